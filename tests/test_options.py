"""The command line made from the settings' declarations: defaults, the
CHATROOM_* twins, and what a flag given does to them."""

from __future__ import annotations

import ipaddress

import pytest

from chatroom.cli import parse_args
from chatroom.cli.options import env_of, flag_of, settings_from
from chatroom.config import Settings, options


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for field, option in options():
        if (env := env_of(field, option)) is not None:
            monkeypatch.delenv(env, raising=False)


def test_no_options_give_the_defaults() -> None:
    assert settings_from(parse_args([])) == Settings()
    assert parse_args(["token", "alice"]).token_ttl == Settings().token_ttl


def test_the_environment_sets_defaults_and_a_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATROOM_PORT", "9000")
    monkeypatch.setenv("CHATROOM_MAX_FRAME", "100")
    monkeypatch.setenv("CHATROOM_REGISTRATION", "closed")
    monkeypatch.setenv("CHATROOM_GROUP_COMMIT", "off")
    monkeypatch.setenv("CHATROOM_BROKER", "")
    settings = settings_from(parse_args(["--port", "9001"]))
    assert (settings.port, settings.max_frame_bytes) == (9001, 100)
    assert not settings.registration_open
    assert not settings.group_commit
    assert settings.broker_url is None


def test_repeatable_flags_add_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATROOM_ALLOWED_HOSTS", "Chat.Example.com,,")
    monkeypatch.setenv("CHATROOM_TRUSTED_PROXIES", "10.0.0.0/8, ")
    settings = settings_from(
        parse_args(["--allowed-host", "B.example", "--trusted-proxy", "192.0.2.7"])
    )
    assert settings.allowed_hosts == ("chat.example.com", "b.example")
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7"),
    )


def test_a_rate_sets_its_burst_too() -> None:
    settings = settings_from(parse_args(["--send-rate", "15", "--frame-rate", "30"]))
    assert (settings.send_rate, settings.send_burst) == (15, 30)
    assert (settings.frame_rate, settings.frame_burst) == (30, 60)


def test_every_option_is_in_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for field, option in options():
        if "serve" in option.commands:
            assert flag_of(field, option) in shown
    assert "(env CHATROOM_MAX_FRAME; default 65536)" in shown
    assert "Host; repeatable (env CHATROOM_ALLOWED_HOSTS, comma-" in shown
