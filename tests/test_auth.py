"""Tokens and the server secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
import warnings
from pathlib import Path

import jwt
import pytest

from chatroom.auth import (
    InvalidToken,
    SecretError,
    TokenGate,
    TokenRefused,
    TokenSigner,
    load_secret,
)

NOW = 1_800_000_000
SECRET = b"s" * 32
signer = TokenSigner(SECRET)


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
        TokenSigner(b"another secret, of 32 bytes too.").issue("alice", ttl=60, now=NOW),
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
    signature = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken) as info:
        signer.verify(token, now=NOW)
    assert info.value.reason == "invalid"


def _hs512(payload: dict[str, object]) -> str:
    """Signed with the server's secret, by another algorithm."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # (for HS512)
        return jwt.encode(payload, SECRET, algorithm="HS512")


def test_a_token_minted_by_pyjwt_with_the_secret_works() -> None:
    """What an outside application does to let its users in."""
    token = jwt.encode({"sub": "alice", "exp": NOW + 60, "iat": NOW}, SECRET, algorithm="HS256")
    claims = signer.verify(token, now=NOW)
    assert (claims.user, claims.expires, claims.token_id) == ("alice", NOW + 60, None)
    nbf_passed = jwt.encode({"sub": "alice", "exp": NOW + 60, "nbf": NOW - 1}, SECRET)
    assert signer.verify(nbf_passed, now=NOW).user == "alice"


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({"sub": "alice", "exp": NOW + 60}, None, algorithm="none"),
        _hs512({"sub": "alice", "exp": NOW + 60}),
        jwt.encode({"sub": "alice", "exp": NOW + 60}, b"w" * 32, algorithm="HS256"),
        jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode({"sub": "alice", "exp": NOW + 600, "nbf": NOW + 300}, SECRET),
        jwt.encode({"sub": "alice", "exp": NOW + 600, "iat": NOW + 300}, SECRET),
        jwt.encode({"sub": "alice", "exp": NOW + 60, "iat": "yesterday"}, SECRET),
        jwt.encode({"sub": "alice", "exp": NOW + 60, "iat": float("nan")}, SECRET),
        jwt.encode({"sub": "alice", "exp": NOW + 60, "iat": float("-inf")}, SECRET),
    ],
    ids=[
        "alg none",
        "HS512",
        "wrong key",
        "no exp",
        "nbf later",
        "iat later",
        "iat text",
        "iat NaN",
        "iat -inf",
    ],
)
def test_pyjwt_tokens_are_refused_for_the_wrong_algorithm_key_or_claims(token: str) -> None:
    with pytest.raises(InvalidToken) as info:
        signer.verify(token, now=NOW)
    assert info.value.reason == "invalid"


def _refused(gate: TokenGate, token: str) -> str:
    with pytest.raises(TokenRefused) as info:
        gate.check(token)
    return info.value.reason


def test_the_gate_says_why_a_token_is_refused() -> None:
    """The one decision on a token, for hello and for HTTP alike."""
    refusals = {"bob": "user banned", "carol": "token revoked"}
    gate = TokenGate(signer=signer, max_ttl=3600, refusal=lambda user, issued: refusals.get(user))
    now = time.time()
    assert gate.check(signer.issue("alice", ttl=60, now=now)).user == "alice"
    assert _refused(gate, signer.issue("alice", ttl=60, now=now - 120)) == "token expired"
    assert _refused(gate, signer.issue("alice", ttl=7200, now=now)) == "token invalid"
    assert _refused(gate, "not a token") == "token invalid"
    assert _refused(gate, signer.issue("bob", ttl=60, now=now)) == "user banned"
    assert _refused(gate, signer.issue("carol", ttl=60, now=now)) == "token revoked"
    claims = gate.check(signer.issue("alice", ttl=60, now=now))
    gate.check_revocation(False)
    with pytest.raises(TokenRefused, match="token revoked"):
        gate.check_revocation(True)
    refusals["alice"] = "user banned"  # learned after the check
    with pytest.raises(TokenRefused, match="user banned"):
        gate.check_refusal(claims)


async def test_the_gate_looks_up_revocation_only_for_tokens_with_an_id() -> None:
    gate = TokenGate(signer=signer)
    asked: list[str] = []

    async def revoked(token_id: str) -> bool:
        asked.append(token_id)
        return token_id == "gone"

    now = int(time.time())
    token = signer.issue("alice", ttl=60, now=now)
    claims = await gate.authorize(token, revoked)
    assert claims.user == "alice" and asked == [claims.token_id]
    gone = jwt.encode({"sub": "alice", "exp": now + 60, "jti": "gone"}, SECRET)
    with pytest.raises(TokenRefused, match="token revoked"):
        await gate.authorize(gone, revoked)
    no_id = jwt.encode({"sub": "alice", "exp": now + 60}, SECRET)
    assert (await gate.authorize(no_id, revoked)).token_id is None
    assert asked == [claims.token_id, "gone"]


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
    assert load_secret(tmp_path, "e" * 32) == b"e" * 32
    assert not (tmp_path / "secret.key").exists()


def test_short_secrets_and_secret_files_others_can_read_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="CHATROOM_SECRET is 1 bytes; use at least 32"):
        load_secret(tmp_path, "x")
    load_secret(tmp_path)
    (tmp_path / "secret.key").chmod(0o644)
    with pytest.raises(SecretError, match=r"can be read by others \(mode 0644\).*chmod 600"):
        load_secret(tmp_path)
    (tmp_path / "secret.key").write_text("short")
    (tmp_path / "secret.key").chmod(0o600)
    with pytest.raises(SecretError, match="holds 5 bytes"):
        load_secret(tmp_path)
