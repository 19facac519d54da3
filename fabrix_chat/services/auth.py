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
import re
import secrets
import threading
import time
from dataclasses import dataclass

import bcrypt

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


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class LoginThrottle:
    """Slows repeated failed log-ins per username and per client, never locking anyone out.

    The first few failures cost nothing; after that each attempt must wait an exponentially
    growing delay (capped) since the previous failure. Only failures count, so a user who
    reloads the page is never slowed, and a success clears the username's record.
    """

    def __init__(
        self, *, free_attempts: int = 3, base_delay: float = 1.0, max_delay: float = 30.0, forget_after: float = 900.0
    ):
        self.free_attempts = free_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def _delay_for(self, key: str, now: float) -> float:
        record = self._failures.get(key)
        if record is None or now - record.last > self.forget_after or record.count < self.free_attempts:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2 ** (record.count - self.free_attempts))
        return max(0.0, record.last + delay - now)

    def wait_seconds(self, *keys: str, now: float | None = None) -> float:
        """How long the caller must wait before another attempt for any of these keys."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return max((self._delay_for(k, now) for k in keys), default=0.0)

    def failed(self, *keys: str, now: float | None = None) -> None:
        """Count one failed attempt against each key."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) > 10_000:
                self._failures.clear()  # bounded memory under a spray of made-up names
            for key in keys:
                record = self._failures.setdefault(key, _Failures())
                if now - record.last > self.forget_after:
                    record.count = 0
                record.count += 1
                record.last = now

    def succeeded(self, *keys: str) -> None:
        """Forget the keys' failures."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


# A username is slowed after 3 failures, a client address only after 20: several people may reach
# the app from one address (a NAT or a reverse proxy) and one person's typos must not slow the rest.
user_throttle = LoginThrottle(free_attempts=3)
client_throttle = LoginThrottle(free_attempts=20)
# Wrong invite keys, per client: 6 digits are few enough to guess without a brake.
signup_throttle = LoginThrottle(free_attempts=10)


def login_wait_seconds(username: str, client: str) -> float:
    """Seconds before this username may try again from this client (0: now)."""
    return max(user_throttle.wait_seconds(username), client_throttle.wait_seconds(client))


def record_failed_login(username: str, client: str) -> None:
    user_throttle.failed(username)
    client_throttle.failed(client)


def record_successful_login(username: str, client: str) -> None:
    """Clears the username's failures; the client's stay, or anyone with an account could wipe them."""
    user_throttle.succeeded(username)
