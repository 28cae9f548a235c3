"""Tokens and the server secret."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from chatroom.auth import InvalidToken, TokenSigner, load_secret

NOW = 1_800_000_000
signer = TokenSigner(b"s" * 32)


def test_a_token_names_its_user_until_it_expires() -> None:
    token = signer.issue("alice", ttl=60, now=NOW)
    claims = signer.verify(token, now=NOW + 59)
    assert (claims.user, claims.expires) == ("alice", NOW + 60)
    assert (
        claims.token_id
        and claims.token_id
        != signer.verify(signer.issue("alice", ttl=60, now=NOW), now=NOW).token_id
    )
    with pytest.raises(InvalidToken) as info:
        signer.verify(token, now=NOW + 60)
    assert info.value.reason == "expired"


def _part(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _edited_payload(token: str) -> str:
    header, _payload, signature = token.split(".")
    return f"{header}.{_part({'sub': 'root', 'exp': NOW + 60})}.{signature}"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b.c",
        "a.b.c.d",
        "é.é.é",
        "x" * 5000,
        TokenSigner(b"other secret").issue("alice", ttl=60, now=NOW),
        signer.issue("alice", ttl=60, now=NOW)[:-2],
        # a valid signature over a payload edited afterwards
        _edited_payload(signer.issue("alice", ttl=60, now=NOW)),
    ],
)
def test_forged_and_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(InvalidToken) as info:
        signer.verify(token, now=NOW)
    assert info.value.reason == "invalid"


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        ({"alg": "none"}, {"sub": "alice", "exp": NOW + 60}),
        ({"alg": "HS256"}, {"sub": "bad name", "exp": NOW + 60}),
        ({"alg": "HS256"}, {"sub": "alice", "exp": "later"}),
        ({"alg": "HS256"}, {"sub": "alice"}),
        ({"alg": "HS256"}, {"sub": "alice", "exp": NOW + 60, "jti": 5}),
        ({"alg": "HS256"}, ["not", "an", "object"]),
    ],
)
def test_correctly_signed_but_wrong_claims_are_invalid(header: object, payload: object) -> None:
    signing_input = f"{_part(header)}.{_part(payload)}"
    token = f"{signing_input}.{signer._sign(signing_input)}"
    with pytest.raises(InvalidToken):
        signer.verify(token, now=NOW)


def test_user_names_are_checked_when_issuing() -> None:
    with pytest.raises(ValueError, match="invalid user name"):
        signer.issue("no spaces", ttl=60, now=NOW)


def test_secret_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_secret(data_dir)
    assert len(first) >= 32
    assert stat.S_IMODE((data_dir / "secret.key").stat().st_mode) == 0o600
    assert load_secret(data_dir) == first
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]


def test_environment_secret_wins(tmp_path: Path) -> None:
    assert load_secret(tmp_path, "from-env") == b"from-env"
    assert not (tmp_path / "secret.key").exists()
