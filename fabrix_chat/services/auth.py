"""Password hashing, sign-in tokens, sign-up rules and failed-login slow-down.

bcrypt is used directly: passlib 1.7.4 is unmaintained and breaks on bcrypt 5 (its self-test
raises "password cannot be longer than 72 bytes"). The `$2b$` hashes are the same format.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import hmac
import logging
import re
import secrets
import time

import bcrypt

from fabrix_chat.services.throttle import Policy, RedisStore, Throttle

log = logging.getLogger(__name__)

BCRYPT_ROUNDS = 12
MAX_PASSWORD_BYTES = 72  # bcrypt ignores what follows; refuse instead of truncating silently
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@functools.cache
def _dummy_hash() -> bytes:
    """A hash checked for unknown usernames so both paths take the same time (made on first use)."""
    return bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(BCRYPT_ROUNDS))


# bcrypt gets threads of its own: on the default pool a burst of log-ins would queue every
# database call behind it and stall everyone else's clicks.
_HASH_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="bcrypt")


async def run_hashing(fn, /, *args):
    """Run a bcrypt function off the event loop, on the hashing threads."""
    return await asyncio.get_running_loop().run_in_executor(_HASH_POOL, fn, *args)


def hash_password(password: str) -> str:
    """A bcrypt hash of the password (salted, BCRYPT_ROUNDS)."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-time check; an unknown user (None) still costs one bcrypt round."""
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD_BYTES:
        return False
    if password_hash is None:
        bcrypt.checkpw(data, _dummy_hash())
        return False
    try:
        return bcrypt.checkpw(data, password_hash.encode("ascii"))
    except ValueError:
        return False


# The longest text each sign-in and sign-up field accepts; longer is refused before anything else
# (no database call, no bcrypt, no log line). Usernames are at most 32, emails 254, passwords 72 bytes.
FIELD_LIMITS = {
    "username": 64,
    "email": 254,
    "password": 256,
    "confirm_password": 256,
    "invite_key": 64,
}


def form_problem(values: dict[str, str]) -> str | None:
    """The i18n key "field_too_long" when a sign-in or sign-up field is over its limit, else None."""
    for name, value in values.items():
        if len(value) > FIELD_LIMITS.get(name, 256):
            return "field_too_long"
    return None


def password_problem(password: str) -> str | None:
    """The i18n key of what is wrong with a new password, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "password_too_short"
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return "password_too_long"
    return None


def username_problem(username: str) -> str | None:
    """The i18n key of what is wrong with a new username, or None."""
    if not USERNAME_RE.match(username.strip().lower()):
        return "username_invalid"
    return None


def email_problem(email: str, allowed_domains: tuple[str, ...]) -> str | None:
    """The i18n key of what is wrong with an email; the domain must be listed exactly (no subdomains)."""
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        return "email_invalid"
    if allowed_domains and email.rsplit("@", 1)[1] not in allowed_domains:
        return "email_domain"
    return None


def invite_key_matches(given: str, expected: str) -> bool:
    """Constant-time comparison; both sides are hashed first so not even the length leaks.
    An empty configured key matches nothing: sign-up with a shared key is off."""
    if not expected:
        return False
    given_digest = hashlib.sha256(given.strip().encode("utf-8")).digest()
    expected_digest = hashlib.sha256(expected.encode("utf-8")).digest()
    return hmac.compare_digest(given_digest, expected_digest)


def new_session_token() -> tuple[str, str]:
    """A random token for the browser cookie, and the hash stored server-side."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """What the database stores of a session token: its SHA-256, so a leaked table signs no one in."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# A username is slowed after 3 attempts that did not succeed, a client address only after 20:
# several people may reach the app from one address (a NAT) and one person's typos must not slow
# the rest. Behind a reverse proxy set [server] trusted_proxy_hops, or every user has its address.
user_throttle = Throttle("login-user", Policy(free_attempts=3))
client_throttle = Throttle("login-client", Policy(free_attempts=20))
# Wrong invite keys per client, and for the whole site: a guessing campaign spread over many
# addresses slows every sign-up (never beyond 30 s), and says so in the log and on the admin page.
signup_throttle = Throttle("signup-client", Policy(free_attempts=10))
site_signup_throttle = Throttle("signup-site", Policy(free_attempts=50, forget_after=3600))
SITE = "site"
# Log-ins of one client being checked at once; more wait their turn, up to LOGIN_QUEUE_SECONDS
# (bcrypt costs a core each). An office behind one address signing in at nine queues here
# instead of being refused, and a guesser's burst is checked four at a time.
MAX_CONCURRENT_LOGINS_PER_CLIENT = 4
LOGIN_QUEUE_SECONDS = 30.0
LOGIN_BUSY = -1.0  # begin_login's answer when the client's turn did not come in time


class _ClientGate:
    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(MAX_CONCURRENT_LOGINS_PER_CLIENT)
        self.users = 0  # attempts holding or waiting for a slot; the gate goes when none is left


_gates: dict[str, _ClientGate] = {}


def use_redis_for_throttles(url: str) -> None:
    """Keep every slow-down counter in Redis, shared by all workers and kept across restarts."""
    store = RedisStore(url)
    for throttle in (user_throttle, client_throttle, signup_throttle, site_signup_throttle):
        throttle.store = store


async def begin_login(username: str, client: str) -> float:
    """Reserve one log-in attempt before the password is checked: 0 means go ahead (then call
    finish_login), LOGIN_BUSY that the client's turn did not come, more is the seconds to wait;
    whatever is refused counts nothing against the username.

    The client is counted first: a client already over its own budget cannot use up a victim
    username's next free slot (which would keep its owner out at no cost to the guesser). At
    most MAX_CONCURRENT_LOGINS_PER_CLIENT attempts of one client are counted and checked at once."""
    gate = _gates.setdefault(client, _ClientGate())
    gate.users += 1  # synchronous: sixty sent at once all see each other
    try:
        async with asyncio.timeout(LOGIN_QUEUE_SECONDS):
            await gate.slots.acquire()
    except TimeoutError:
        _leave_gate(client, gate)
        return LOGIN_BUSY
    except BaseException:
        _leave_gate(client, gate)
        raise
    try:
        wait = await client_throttle.attempt(client)
        if wait == 0:
            wait = await user_throttle.attempt(username)
            if wait > 0:
                await client_throttle.refund(client)
    except BaseException:
        _release_login(client)
        raise
    if wait > 0:
        _release_login(client)
    return wait


def _leave_gate(client: str, gate: _ClientGate) -> None:
    gate.users -= 1
    if gate.users <= 0 and _gates.get(client) is gate:
        del _gates[client]


def _release_login(client: str) -> None:
    gate = _gates.get(client)
    if gate is not None:
        gate.slots.release()
        _leave_gate(client, gate)


async def finish_login(username: str, client: str, *, succeeded: bool) -> None:
    """A success clears the username's count and gives the client back its attempt; the
    client's failures stay, or anyone with an account could wipe them."""
    _release_login(client)
    if succeeded:
        await user_throttle.clear(username)
        await client_throttle.refund(client)


async def begin_signup(client: str) -> float:
    """Reserve one invite-key check for this client and the site: 0 or the seconds to wait."""
    wait = await signup_throttle.attempt(client)
    if wait > 0:
        return wait
    wait = await site_signup_throttle.attempt(SITE)
    if wait > 0:
        await signup_throttle.refund(client)
        log.warning(
            "sign-up slowed for everyone: over %d wrong invite keys in the last hour",
            site_signup_throttle.policy.free_attempts,
        )
    return wait


async def finish_signup(client: str, *, key_was_right: bool) -> None:
    if key_was_right:
        await signup_throttle.refund(client)
        await site_signup_throttle.refund(SITE)


async def wrong_invite_keys_last_hour() -> int:
    """For the admin page's warning: wrong invite keys across the site (0 below the budget)."""
    count = await site_signup_throttle.attempts(SITE)
    return count if count >= site_signup_throttle.policy.free_attempts else 0


# --- the session cookie, out of JavaScript's reach ---------------------------------------------
# Sign-in is a Reflex event, but the cookie is set by an HTTP response (web.py's /auth/session),
# so it can be HttpOnly: the event creates the session with a placeholder token and gives the
# browser a one-time ticket, signed with [security] secret_key, valid for TICKET_SECONDS; the
# route swaps the placeholder for the real token exactly once and sets the cookie. On the
# websocket, web.py turns the cookie into SESSION_HEADER carrying the token's hash, which Reflex
# never sends to the browser; a client's own SESSION_HEADER is always dropped.

SESSION_COOKIE = "fabrix_session"
SESSION_HEADER = "authorization"  # one of the headers Reflex keeps from the page (istate/data.py)
SESSION_SCHEME = "FabrixSession "
TICKET_SECONDS = 60
PLACEHOLDER_PREFIX = "pending:"  # a session row's token_hash until its ticket is redeemed


def _ticket_mac(key: str, session_id: int, expires: int, nonce: str) -> str:
    message = f"login-ticket|{session_id}|{expires}|{nonce}".encode()
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def placeholder_hash(nonce: str) -> str:
    """What a session row holds until its ticket is redeemed. It is not 64 hex digits, so it can
    never equal the hash of any cookie: an unredeemed ticket signs nobody in."""
    return PLACEHOLDER_PREFIX + hash_token(nonce)[: 64 - len(PLACEHOLDER_PREFIX)]


def new_ticket_nonce() -> tuple[str, str]:
    """(nonce of a new sign-in ticket, the placeholder hash its session row holds until redeemed)."""
    nonce = secrets.token_urlsafe(24)
    return nonce, placeholder_hash(nonce)


def sign_login_ticket(key: str, session_id: int, nonce: str, now: float | None = None) -> str:
    """The one-time ticket the browser takes to /auth/session: valid TICKET_SECONDS, signed."""
    expires = int((time.time() if now is None else now) + TICKET_SECONDS)
    return f"{session_id}.{expires}.{nonce}.{_ticket_mac(key, session_id, expires, nonce)}"


def read_login_ticket(key: str, ticket: str, now: float | None = None) -> tuple[int, str] | None:
    """(session id, nonce) of a well-formed, correctly signed, unexpired ticket; else None."""
    parts = ticket.split(".") if isinstance(ticket, str) and len(ticket) <= 300 else []
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    session_id, expires, nonce, mac = int(parts[0]), int(parts[1]), parts[2], parts[3]
    if not mac.isascii() or not hmac.compare_digest(mac, _ticket_mac(key, session_id, expires, nonce)):
        return None
    if (time.time() if now is None else now) > expires:
        return None
    return session_id, nonce


def session_header_value(token: str) -> str:
    """What the websocket carries instead of the cookie: the token's hash, never the token."""
    return SESSION_SCHEME + hash_token(token)


def token_hash_from_header(value: str) -> str:
    """The token hash the websocket middleware put in SESSION_HEADER ("" when none)."""
    if not value.startswith(SESSION_SCHEME):
        return ""
    digest = value[len(SESSION_SCHEME) :]
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else ""
