"""The login throttle: per user name and per address, apart (no server, a fake clock)."""

from __future__ import annotations

from chatroom.auth.throttle import FREE_FAILURES, FREE_NAMES_PER_ADDRESS, LoginThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_users_typos_do_not_lock_out_others_on_the_same_address() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES + 1):
        assert throttle.retry_after("alice", "10.0.0.1") == 0
        throttle.failed("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 2
    assert throttle.retry_after("bob", "10.0.0.1") == 0
    clock.now += 3
    throttle.failed("alice", "10.0.0.1")  # counted before the password check...
    throttle.succeeded("alice", "10.0.0.1")  # ...and forgiven when it was right
    assert throttle.retry_after("alice", "10.0.0.1") == 0
    assert throttle.retry_after("bob", "10.0.0.1") == 0


def test_a_name_is_slowed_down_from_any_address_and_without_regard_to_case() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for i in range(FREE_FAILURES + 3):
        throttle.failed("Carol", f"10.0.0.{i}")
    assert throttle.retry_after("carol", "10.9.9.9") == 2**3
    clock.now += 2**3
    assert throttle.retry_after("CAROL", "10.9.9.9") == 0


def test_an_address_is_slowed_down_only_after_many_different_names() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(3):
        for i in range(FREE_NAMES_PER_ADDRESS):
            throttle.failed(f"user{i}", "10.0.0.1")
    assert throttle.retry_after("someone-else", "10.0.0.1") == 0
    throttle.failed("one-more", "10.0.0.1")
    assert throttle.retry_after("someone-else", "10.0.0.1") == 2
    assert throttle.retry_after("someone-else", "10.0.0.2") == 0
    # A name that logs in correctly is no longer held against its address.
    throttle.succeeded("one-more", "10.0.0.1")
    assert throttle.retry_after("someone-else", "10.0.0.1") == 0


def test_failures_are_forgotten_after_a_quiet_quarter_hour() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES + 1):
        throttle.failed("dave", "10.0.0.1")
    clock.now += 15 * 60 + 1
    throttle.failed("dave", "10.0.0.1")
    assert throttle.retry_after("dave", "10.0.0.1") == 0
