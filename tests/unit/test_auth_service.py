"""Password hashing, sign-up rules, session tokens and the failed-login slow-down."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from fabrix_chat.services import auth
from fabrix_chat.services.throttle import Throttle

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


@pytest.fixture
def fresh_throttles(monkeypatch):
    for name in ("user_throttle", "client_throttle", "signup_throttle", "site_signup_throttle"):
        old = getattr(auth, name)
        monkeypatch.setattr(auth, name, Throttle(old.name, old.policy))
    monkeypatch.setattr(auth, "_gates", {})


async def fail_login(username: str, client: str) -> float:
    wait = await auth.begin_login(username, client)
    if wait == 0:
        await auth.finish_login(username, client, succeeded=False)
    return wait


async def test_username_is_slowed_after_three_failures_from_anywhere(fresh_throttles):
    for client in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert await fail_login("kim", client) == 0
    assert await fail_login("kim", "10.0.0.4") > 0
    assert await fail_login("lee", "10.0.0.1") == 0  # other people on those clients are not


async def test_one_client_guessing_many_names_is_slowed(fresh_throttles):
    for i in range(20):
        assert await fail_login(f"name{i}", "10.9.9.9") == 0
    assert await fail_login("fresh-name", "10.9.9.9") > 0
    assert await fail_login("fresh-name", "10.0.0.1") == 0


async def test_success_clears_the_username_but_not_the_client(fresh_throttles):
    for i in range(19):
        await fail_login(f"victim{i}", "10.6.6.6")
    await fail_login("kim", "10.6.6.6")  # the 20th: the client's free attempts are used up
    await auth.client_throttle.refund("10.6.6.6")
    assert await auth.begin_login("kim", "10.6.6.6") == 0
    await auth.finish_login("kim", "10.6.6.6", succeeded=True)
    assert await auth.user_throttle.attempts("kim") == 0
    # Logging in to one's own account does not wipe a client's record of guessing others.
    assert await fail_login("anyone", "10.6.6.6") == 0
    assert await fail_login("anyone", "10.6.6.6") > 0


async def test_a_success_does_not_use_up_the_clients_attempts(fresh_throttles):
    for _ in range(50):  # a whole office behind one address, each signing in once
        assert await auth.begin_login("kim", "10.1.1.1") == 0
        await auth.finish_login("kim", "10.1.1.1", succeeded=True)
    assert await fail_login("lee", "10.1.1.1") == 0


async def test_one_client_has_at_most_four_log_ins_checked_at_once_and_the_rest_wait(fresh_throttles):
    started = [asyncio.create_task(auth.begin_login(f"user{i}", "10.2.2.2")) for i in range(6)]
    await asyncio.sleep(0.05)
    assert [t.done() for t in started] == [True] * 4 + [False] * 2, "two wait for a turn"
    assert await auth.begin_login("other", "10.3.3.3") == 0, "other clients are not held up"
    await auth.finish_login("user0", "10.2.2.2", succeeded=True)
    await asyncio.sleep(0.05)
    assert sum(t.done() for t in started) == 5
    for i in range(1, 5):
        await auth.finish_login(f"user{i}", "10.2.2.2", succeeded=True)
    assert [await t for t in started] == [0.0] * 6
    await auth.finish_login("user5", "10.2.2.2", succeeded=True)
    await auth.finish_login("other", "10.3.3.3", succeeded=True)
    assert auth._gates == {}


async def test_an_office_behind_one_address_signs_in_at_once_without_refusals(fresh_throttles):
    async def sign_in(n: int) -> float:
        wait = await auth.begin_login(f"employee{n}", "10.9.9.9")
        if wait == 0:
            await asyncio.sleep(0.01)  # bcrypt
            await auth.finish_login(f"employee{n}", "10.9.9.9", succeeded=True)
        return wait

    assert await asyncio.gather(*(sign_in(n) for n in range(50))) == [0.0] * 50


async def test_a_turn_that_does_not_come_in_time_says_busy(fresh_throttles, monkeypatch):
    monkeypatch.setattr(auth, "LOGIN_QUEUE_SECONDS", 0.05)
    for i in range(4):
        assert await auth.begin_login(f"user{i}", "10.4.0.1") == 0
    assert await auth.begin_login("late", "10.4.0.1") == auth.LOGIN_BUSY
    assert await auth.user_throttle.attempts("late") == 0


async def test_wrong_invite_keys_are_slowed_per_client_and_for_the_whole_site(fresh_throttles, caplog):
    for _ in range(10):
        assert await auth.begin_signup("10.4.4.4") == 0
        await auth.finish_signup("10.4.4.4", key_was_right=False)
    assert await auth.begin_signup("10.4.4.4") > 0
    # A campaign spread over many addresses: past 50 wrong keys in an hour everyone waits a bit.
    for i in range(40):
        assert await auth.begin_signup(f"10.5.0.{i}") == 0
        await auth.finish_signup(f"10.5.0.{i}", key_was_right=False)
    assert await auth.wrong_invite_keys_last_hour() == 50
    assert await auth.begin_signup("10.7.7.7") > 0
    assert "sign-up slowed for everyone" in caplog.text


async def test_a_right_invite_key_is_not_counted(fresh_throttles):
    for _ in range(30):
        assert await auth.begin_signup("10.8.8.8") == 0
        await auth.finish_signup("10.8.8.8", key_was_right=True)
    assert await auth.wrong_invite_keys_last_hour() == 0


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"username": "k" * 64, "password": "p" * 256}, None),
        ({"username": "k" * 65, "password": "x"}, "field_too_long"),
        ({"username": "kim", "password": "p" * 257}, "field_too_long"),
        ({"email": "e" * 255}, "field_too_long"),
        ({"invite_key": "1" * 65}, "field_too_long"),
    ],
)
def test_over_long_fields_are_refused(values, problem):
    assert auth.form_problem(values) == problem


async def test_a_client_over_its_budget_cannot_keep_a_username_out(fresh_throttles):
    for i in range(20):
        await fail_login(f"name{i}", "10.6.6.7")  # the guesser's own budget is spent
    for _ in range(100):  # ... and it keeps knocking on the admin's name
        assert await auth.begin_login("admin", "10.6.6.7") > 0
    assert await auth.user_throttle.attempts("admin") == 0, "nothing was counted against the name"
    assert await auth.begin_login("admin", "10.1.1.1") == 0, "the admin gets in at once"


def test_a_placeholder_can_never_be_the_hash_of_a_cookie():
    nonce, placeholder = auth.new_ticket_nonce()
    assert len(placeholder) <= 64 and not all(c in "0123456789abcdef" for c in placeholder)
    assert auth.token_hash_from_header(auth.SESSION_SCHEME + placeholder) == ""
