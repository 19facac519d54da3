"""Password hashing, sign-up rules, session tokens and the failed-login slow-down."""

from __future__ import annotations

import hashlib
import re

import pytest

from fabrix_chat.services import auth

# --- passwords --------------------------------------------------------------------------------


def test_password_hash_verifies_only_the_same_password():
    hashed = auth.hash_password("correct-horse-9")
    assert hashed.startswith("$2b$")
    assert "correct-horse-9" not in hashed
    assert auth.verify_password("correct-horse-9", hashed)
    assert not auth.verify_password("correct-horse-0", hashed)
    assert auth.hash_password("correct-horse-9") != hashed  # salted


def test_unknown_user_and_broken_hash_never_verify():
    assert not auth.verify_password("anything", None)
    assert not auth.verify_password("anything", "not-a-bcrypt-hash")


def test_password_over_72_bytes_is_refused_not_truncated():
    long_password = "가" * 25  # 75 bytes in UTF-8
    assert auth.password_problem(long_password) == "password_too_long"
    hashed = auth.hash_password("a" * 72)
    assert not auth.verify_password("a" * 72 + "tail", hashed)


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short", "password_too_short"), ("1234567", "password_too_short"), ("12345678", None), ("x" * 72, None)],
)
def test_password_rules(password, problem):
    assert auth.password_problem(password) == problem


@pytest.mark.parametrize(
    ("username", "problem"),
    [("kim", None), ("kim.minsu-2_x", None), ("ab", "username_invalid"), ("has space", "username_invalid"),
     ("-lead", "username_invalid"), ("x" * 33, "username_invalid"), ("  Kim.Lee ", None)],
)  # fmt: skip
def test_username_rules(username, problem):
    assert auth.username_problem(username) == problem


# --- email and the optional domain allow-list -------------------------------------------------


def test_any_domain_is_allowed_when_the_list_is_empty():
    assert auth.email_problem("someone@example.org", ()) is None
    assert auth.email_problem("not-an-email", ()) == "email_invalid"
    assert auth.email_problem("a@b", ()) == "email_invalid"
    assert auth.email_problem("x" * 250 + "@a.com", ()) == "email_invalid"


def test_allow_list_admits_only_listed_domains_exactly():
    allowed = ("samsung.com", "sds.co.kr")
    assert auth.email_problem("kim@samsung.com", allowed) is None
    assert auth.email_problem("Kim@SAMSUNG.com ", allowed) is None  # case and spaces don't matter
    assert auth.email_problem("lee@sds.co.kr", allowed) is None
    assert auth.email_problem("kim@gmail.com", allowed) == "email_domain"
    # Neither a look-alike nor a subdomain slips through: the domain must be listed as such.
    assert auth.email_problem("kim@evilsamsung.com", allowed) == "email_domain"
    assert auth.email_problem("kim@samsung.com.evil.io", allowed) == "email_domain"
    assert auth.email_problem("kim@mail.samsung.com", allowed) == "email_domain"


# --- invite key -------------------------------------------------------------------------------


def test_invite_key_matches_only_the_configured_key():
    assert auth.invite_key_matches("123456", "123456")
    assert auth.invite_key_matches(" 123456 ", "123456")
    assert not auth.invite_key_matches("123457", "123456")
    assert not auth.invite_key_matches("12345", "123456")
    assert not auth.invite_key_matches("", "123456")
    assert auth.invite_key_matches("Spring2027Team", "Spring2027Team")


@pytest.mark.parametrize("given", ["", " ", "123456"])
def test_an_empty_configured_key_lets_nobody_sign_up(given):
    assert not auth.invite_key_matches(given, "")


def test_invite_key_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert not auth.invite_key_matches("1", "123456")
    # One constant-time comparison of equal-length digests: not even the key's length leaks.
    assert len(calls) == 1 and len(calls[0][0]) == len(calls[0][1]) == 32
    assert b"123456" not in calls[0][1]


# --- session tokens ---------------------------------------------------------------------------


def test_session_tokens_are_random_and_only_their_hash_is_stored():
    tokens = {auth.new_session_token() for _ in range(200)}
    assert len(tokens) == 200
    token, stored = next(iter(tokens))
    assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 32 random bytes
    assert stored == hashlib.sha256(token.encode()).hexdigest() == auth.hash_token(token)
    assert token not in stored


# --- failed-login slow-down -------------------------------------------------------------------


def test_first_failures_are_free_then_waits_grow_and_are_capped():
    throttle = auth.LoginThrottle(free_attempts=3, base_delay=1.0, max_delay=8.0)
    for i in range(3):
        assert throttle.wait_seconds("user:kim", now=100.0 + i) == 0
        throttle.failed("user:kim", now=100.0 + i)
    # The fourth attempt must wait base_delay after the third failure, then it doubles.
    assert throttle.wait_seconds("user:kim", now=102.0) == pytest.approx(1.0)
    assert throttle.wait_seconds("user:kim", now=103.5) == 0
    throttle.failed("user:kim", now=103.5)
    assert throttle.wait_seconds("user:kim", now=103.5) == pytest.approx(2.0)
    throttle.failed("user:kim", now=106.0)
    assert throttle.wait_seconds("user:kim", now=106.0) == pytest.approx(4.0)
    for t in range(200, 210):
        throttle.failed("user:kim", now=float(t))
    assert throttle.wait_seconds("user:kim", now=209.0) == pytest.approx(8.0)  # capped


def test_waiting_without_new_failures_never_grows_the_delay():
    """Reloading the page makes no attempt: asking how long to wait, again and again, changes nothing."""
    throttle = auth.LoginThrottle(free_attempts=2, base_delay=2.0)
    throttle.failed("k", now=0.0)
    throttle.failed("k", now=0.5)
    waits = [throttle.wait_seconds("k", now=1.0) for _ in range(50)]
    assert waits == [pytest.approx(1.5)] * 50
    assert throttle.wait_seconds("k", now=2.5) == 0


def test_a_success_clears_and_old_failures_are_forgotten():
    throttle = auth.LoginThrottle(free_attempts=2, base_delay=5.0, forget_after=60.0)
    throttle.failed("a", "b", now=0.0)
    throttle.failed("a", "b", now=1.0)
    assert throttle.wait_seconds("a", now=1.0) > 0
    throttle.succeeded("a")
    assert throttle.wait_seconds("a", now=1.0) == 0
    assert throttle.wait_seconds("b", now=1.0) > 0  # only the named key was cleared
    assert throttle.wait_seconds("b", now=62.0) == 0  # forgotten after a quiet minute
    throttle.failed("b", now=62.0)
    assert throttle.wait_seconds("b", now=62.0) == 0  # and counting starts again from zero


def test_keys_are_independent():
    throttle = auth.LoginThrottle(free_attempts=1, base_delay=3.0)
    throttle.failed("user:kim", now=10.0)
    assert throttle.wait_seconds("user:lee", now=10.0) == 0
    assert throttle.wait_seconds("user:lee", "user:kim", now=10.0) == pytest.approx(3.0)


def test_memory_stays_bounded_under_made_up_names():
    throttle = auth.LoginThrottle()
    for i in range(10_050):
        throttle.failed(f"user:{i}", now=1.0)
    assert len(throttle._failures) <= 10_001


@pytest.fixture
def fresh_throttles(monkeypatch):
    monkeypatch.setattr(auth, "user_throttle", auth.LoginThrottle(free_attempts=3))
    monkeypatch.setattr(auth, "client_throttle", auth.LoginThrottle(free_attempts=20))


def test_username_is_slowed_after_three_failures_from_anywhere(fresh_throttles):
    for client in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert auth.login_wait_seconds("kim", client) == 0
        auth.record_failed_login("kim", client)
    assert auth.login_wait_seconds("kim", "10.0.0.4") > 0
    assert auth.login_wait_seconds("lee", "10.0.0.1") == 0  # other people on those clients are not


def test_one_client_guessing_many_names_is_slowed(fresh_throttles):
    for i in range(20):
        assert auth.login_wait_seconds(f"name{i}", "10.9.9.9") == 0
        auth.record_failed_login(f"name{i}", "10.9.9.9")
    assert auth.login_wait_seconds("fresh-name", "10.9.9.9") > 0
    assert auth.login_wait_seconds("fresh-name", "10.0.0.1") == 0


def test_success_clears_the_username_but_not_the_client(fresh_throttles):
    for i in range(20):
        auth.record_failed_login(f"victim{i}", "10.6.6.6")
    auth.record_failed_login("kim", "10.6.6.6")
    auth.record_successful_login("kim", "10.6.6.6")
    assert auth.user_throttle.wait_seconds("kim") == 0
    # Logging in to one's own account does not wipe a client's record of guessing others.
    assert auth.login_wait_seconds("anyone", "10.6.6.6") > 0
