"""The login throttle: per user name and per address, apart (no server, a fake clock)."""

from __future__ import annotations

from chatroom.auth.throttle import (
    FREE_FAILURES,
    FREE_FAILURES_PER_NAME,
    FREE_NAMES_PER_ADDRESS,
    MAX_NAME_SLOWDOWN,
    LoginThrottle,
)


def fail(throttle: LoginThrottle, user: str, address: str) -> None:
    """A login checked and refused."""
    throttle.attempt(user, address)
    throttle.failed(user, address)


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
        fail(throttle, "alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 2
    assert throttle.retry_after("bob", "10.0.0.1") == 0
    clock.now += 3
    throttle.attempt("alice", "10.0.0.1")  # counted before the password check...
    throttle.succeeded("alice", "10.0.0.1")  # ...and forgiven when it was right
    assert throttle.retry_after("alice", "10.0.0.1") == 0
    assert throttle.retry_after("bob", "10.0.0.1") == 0


def test_guesses_from_one_address_never_lock_the_account_for_others() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES + 3):
        fail(throttle, "Carol", "10.6.6.6")
    assert throttle.retry_after("carol", "10.6.6.6") == 2**3
    assert throttle.retry_after("CAROL", "10.0.0.1") == 0
    clock.now += 2**3
    assert throttle.retry_after("carol", "10.6.6.6") == 0


def test_guesses_at_a_name_from_everywhere_slow_it_down_mildly() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for i in range(FREE_FAILURES_PER_NAME):
        fail(throttle, "dave", f"10.0.{i}.1")
    assert throttle.slowdown("dave") == 0
    slowdowns = []
    for i in range(8):
        fail(throttle, "dave", f"10.1.{i}.1")
        slowdowns.append(throttle.slowdown("dave"))
        assert throttle.retry_after("dave", "10.9.9.9") == 0  # never a refusal
    assert slowdowns == sorted(slowdowns)
    assert slowdowns[0] > 0 and slowdowns[-1] == MAX_NAME_SLOWDOWN
    throttle.succeeded("dave", "10.9.9.9")
    assert throttle.slowdown("dave") == 0


def test_an_address_is_slowed_down_only_after_many_different_names() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(3):
        for i in range(FREE_NAMES_PER_ADDRESS):
            fail(throttle, f"user{i}", "10.0.0.1")
    assert throttle.retry_after("someone-else", "10.0.0.1") == 0
    fail(throttle, "one-more", "10.0.0.1")
    assert throttle.retry_after("someone-else", "10.0.0.1") == 2
    assert throttle.retry_after("someone-else", "10.0.0.2") == 0
    # A name that logs in correctly is no longer held against its address.
    throttle.succeeded("one-more", "10.0.0.1")
    assert throttle.retry_after("someone-else", "10.0.0.1") == 0


def test_failures_are_forgotten_after_a_quiet_quarter_hour() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(FREE_FAILURES + 1):
        fail(throttle, "dave", "10.0.0.1")
    clock.now += 15 * 60 + 1
    fail(throttle, "dave", "10.0.0.1")
    assert throttle.retry_after("dave", "10.0.0.1") == 0


def test_logins_in_progress_are_not_failures_of_the_address() -> None:
    throttle = LoginThrottle(FakeClock())
    for i in range(FREE_NAMES_PER_ADDRESS + 5):  # an office logging in at once
        throttle.attempt(f"colleague{i}", "10.0.0.1")
    assert throttle.retry_after("latecomer", "10.0.0.1") == 0


def test_names_no_account_can_have_share_one_record() -> None:
    throttle = LoginThrottle(FakeClock())
    for i in range(FREE_FAILURES + 1):
        fail(throttle, "x" * 10_000 + str(i), "10.0.0.1")
    assert throttle.retry_after("y" * 5000, "10.0.0.1") > 0
    assert throttle.retry_after("alice", "10.0.0.1") == 0


def test_an_attempt_never_checked_is_taken_back() -> None:
    throttle = LoginThrottle(FakeClock())
    for _ in range(FREE_FAILURES):
        fail(throttle, "ann", "10.0.0.1")
    throttle.attempt("ann", "10.0.0.1")
    assert throttle.retry_after("ann", "10.0.0.1") > 0
    throttle.abandoned("ann", "10.0.0.1")  # say the database was away
    assert throttle.retry_after("ann", "10.0.0.1") == 0
