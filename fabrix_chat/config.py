"""secrets.toml -> one frozen Settings object.

The file is named by FABRIX_CHAT_SECRETS (default: secrets.toml in the project root). No file
means all defaults and demo mode. A malformed file or a bad value raises ConfigError with a
message naming the file, the key and what is expected.
"""

from __future__ import annotations

import logging
import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
SECRETS_ENV = "FABRIX_CHAT_SECRETS"

# Keys whose values are secret: masked on the admin settings page, never logged.
SECRET_KEYS = frozenset(
    {
        "security.secret_key",
        "auth.admin_signup_key",
        "fabrix_api.client_key",
        "fabrix_api.openapi_token",
        "rate_limit.redis_url",
        "database.url",
    }
)


DEMO_SIGNUP_KEY = "123456"  # demo mode's invite key; refused once the real FabriX is configured
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def _shown(key: str, value: Any) -> str:
    """A value as an error message may show it: never a secret's, not even a malformed one."""
    return "<hidden>" if key in SECRET_KEYS else repr(value)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 3000
    data_dir: str = "data"
    debug: bool = False
    trusted_proxy_hops: int = 0
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecuritySettings:
    secret_key: str = ""


@dataclass(frozen=True)
class AuthSettings:
    admin_signup_key: str = DEMO_SIGNUP_KEY
    allowed_email_domains: tuple[str, ...] = ()
    session_idle_minutes: int = 30


@dataclass(frozen=True)
class FabrixSettings:
    base_url: str = ""
    client_key: str = ""
    openapi_token: str = ""
    user_email: str = ""
    agent_id: str = ""
    client_header: str = "x-fabrix-client"
    history_turns: int = 10
    history_token_share: float = 0.25  # of [rate_limit] tpm, for one question and its history

    @property
    def demo_mode(self) -> bool:
        return not self.base_url


@dataclass(frozen=True)
class RateLimitSettings:
    rpm: int = 100
    tpm: int = 10000
    chat_max_wait_seconds: float = 10
    file_max_wait_seconds: float = 15
    redis_url: str = ""


@dataclass(frozen=True)
class UploadSettings:
    max_mb: int = 100
    user_quota_mb: int = 1000  # all of one user's files kept at once (waiting or kept for Retry)
    total_quota_mb: int = 20000  # all users' files together
    min_free_mb: int = 1024  # an upload that would leave less free disk is refused


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    fabrix_api: FabrixSettings = field(default_factory=FabrixSettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    upload: UploadSettings = field(default_factory=UploadSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    source: str = ""  # the file these settings came from ("" when none)

    @property
    def data_path(self) -> Path:
        path = Path(self.server.data_dir)
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_path / 'fabrix_chat.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def upload_max_bytes(self) -> int:
        return self.upload.max_mb * 1024 * 1024

    @property
    def history_token_budget(self) -> int:
        """Estimated tokens one question and the history sent with it may use (at least 1)."""
        return max(1, int(self.rate_limit.tpm * self.fabrix_api.history_token_share))

    def masked(self) -> dict[str, dict[str, Any]]:
        """The effective configuration with every secret replaced by a mask."""
        out: dict[str, dict[str, Any]] = {}
        for section in _SECTIONS:
            values = {}
            for f in fields(_SECTIONS[section]):
                value = getattr(getattr(self, section), f.name)
                if f"{section}.{f.name}" in SECRET_KEYS and value:
                    value = "********"
                elif isinstance(value, tuple):
                    value = list(value)
                values[f.name] = value
            out[section] = values
        return out


_SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "security": SecuritySettings,
    "auth": AuthSettings,
    "fabrix_api": FabrixSettings,
    "rate_limit": RateLimitSettings,
    "upload": UploadSettings,
    "database": DatabaseSettings,
}


def _expect(path: str, key: str, value: Any, annotation: str) -> Any:
    """Check one value against its field's type; return the value to store."""

    def fail(what: str) -> ConfigError:
        return ConfigError(
            f"{path}: [{key.split('.')[0]}] {key.split('.')[1]} must be {what}, got {_shown(key, value)}"
        )

    if annotation == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
        return value
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if annotation == "str":
        if not isinstance(value, str):
            raise fail("a string in quotes")
        return value
    if annotation == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail('a list of strings, e.g. ["samsung.com"]')
        if key == "server.allowed_origins":
            return tuple(v.strip().rstrip("/") for v in value if v.strip())
        return tuple(v.strip().lower().lstrip("@") for v in value if v.strip())
    raise AssertionError(annotation)


def _validate(path: str, s: Settings) -> None:
    """Range checks that the types alone don't express."""

    def check(ok: bool, key: str, what: str, value: Any) -> None:
        if not ok:
            section, name = key.split(".")
            raise ConfigError(f"{path}: [{section}] {name} must be {what}, got {_shown(key, value)}")

    check(1 <= s.server.port <= 65535, "server.port", "a port number from 1 to 65535", s.server.port)
    check(bool(s.server.host.strip()), "server.host", "a host name or address", s.server.host)
    check(bool(s.server.data_dir.strip()), "server.data_dir", "a folder path", s.server.data_dir)
    for origin in s.server.allowed_origins:
        check(
            origin.startswith(("http://", "https://")) and "/" not in origin.split("://", 1)[1],
            "server.allowed_origins",
            'a list of origins like "https://chat.example.com" (scheme, host and port, no path)',
            origin,
        )
    check(
        0 <= s.server.trusted_proxy_hops <= 5,
        "server.trusted_proxy_hops",
        "from 0 to 5 (the number of reverse proxies in front of the app)",
        s.server.trusted_proxy_hops,
    )
    check(
        not s.data_path.resolve().is_relative_to(PACKAGE_DIR),
        "server.data_dir",
        "a folder outside the fabrix_chat/ package (development mode reloads on every change there)",
        s.server.data_dir,
    )
    key = s.auth.admin_signup_key
    check(
        key == "" or (6 <= len(key) <= 64 and key.isascii() and key.isalnum()),
        "auth.admin_signup_key",
        '6 to 64 letters and digits in quotes (or "" to allow no sign-up with a shared key)',
        key,
    )
    check(
        1 <= s.auth.session_idle_minutes <= 24 * 60,
        "auth.session_idle_minutes",
        "from 1 to 1440",
        s.auth.session_idle_minutes,
    )
    url = s.fabrix_api.base_url
    check(not url or url.startswith(("http://", "https://")), "fabrix_api.base_url", "empty or an http(s):// URL", url)
    if url:
        check(bool(s.fabrix_api.client_key), "fabrix_api.client_key", "set when base_url is set", "")
        check(bool(s.fabrix_api.openapi_token), "fabrix_api.openapi_token", "set when base_url is set", "")
    check(
        s.fabrix_api.demo_mode or key != DEMO_SIGNUP_KEY,
        "auth.admin_signup_key",
        f"your own invite key once [fabrix_api] base_url is set: the demo key {DEMO_SIGNUP_KEY} would let anyone "
        'on the intranet sign up. Choose 6 to 64 letters and digits, or "" to allow no sign-up with a shared key',
        key,
    )
    header = s.fabrix_api.client_header
    check(
        bool(header) and all(c.isalnum() or c == "-" for c in header),
        "fabrix_api.client_header",
        "an HTTP header name",
        header,
    )
    check(
        1 <= s.fabrix_api.history_turns <= 100, "fabrix_api.history_turns", "from 1 to 100", s.fabrix_api.history_turns
    )
    check(
        0 < s.fabrix_api.history_token_share <= 1,
        "fabrix_api.history_token_share",
        "a number above 0 and at most 1 (the share of [rate_limit] tpm one question and its history may use, "
        "e.g. 0.25)",
        s.fabrix_api.history_token_share,
    )
    check(s.rate_limit.rpm >= 1, "rate_limit.rpm", "at least 1", s.rate_limit.rpm)
    check(s.rate_limit.tpm >= 1, "rate_limit.tpm", "at least 1", s.rate_limit.tpm)
    check(
        0 <= s.rate_limit.chat_max_wait_seconds <= 300,
        "rate_limit.chat_max_wait_seconds",
        "from 0 to 300",
        s.rate_limit.chat_max_wait_seconds,
    )
    check(
        0 <= s.rate_limit.file_max_wait_seconds <= 300,
        "rate_limit.file_max_wait_seconds",
        "from 0 to 300",
        s.rate_limit.file_max_wait_seconds,
    )
    redis = s.rate_limit.redis_url
    check(
        not redis or redis.startswith(("redis://", "rediss://", "unix://")),
        "rate_limit.redis_url",
        "empty or a redis:// URL",
        redis,
    )
    check(
        _redis_is_protected(redis),
        "rate_limit.redis_url",
        "a URL with a password (redis://:PASSWORD@host:6379/0) when Redis is on another machine: Reflex keeps the "
        "app's state there as pickles, so whoever can write to that Redis can run code in the app",
        redis,
    )
    check(1 <= s.upload.max_mb <= 2048, "upload.max_mb", "from 1 to 2048", s.upload.max_mb)
    check(
        s.upload.max_mb <= s.upload.user_quota_mb <= 1_000_000,
        "upload.user_quota_mb",
        f"at least max_mb ({s.upload.max_mb}) and at most 1000000",
        s.upload.user_quota_mb,
    )
    check(
        s.upload.user_quota_mb <= s.upload.total_quota_mb <= 10_000_000,
        "upload.total_quota_mb",
        f"at least user_quota_mb ({s.upload.user_quota_mb}) and at most 10000000",
        s.upload.total_quota_mb,
    )
    check(0 <= s.upload.min_free_mb <= 1_000_000, "upload.min_free_mb", "from 0 to 1000000", s.upload.min_free_mb)
    db = s.database.url
    check(
        not db or db.startswith(("sqlite", "postgresql")),
        "database.url",
        "empty, a sqlite:/// or a postgresql:// URL",
        "<hidden>",
    )


def _redis_is_protected(url: str) -> bool:
    """No Redis, one on this machine (or a unix socket), or one that asks for a password."""
    if not url or url.startswith("unix://"):
        return True
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        password = parts.password
    except ValueError:
        return False
    return host in LOOPBACK_HOSTS or bool(password)


def parse_settings(data: dict[str, Any], path: str = "secrets.toml") -> Settings:
    """Build Settings from parsed TOML; unknown keys are ignored with a warning."""
    sections: dict[str, Any] = {}
    for section, value in data.items():
        if section not in _SECTIONS:
            log.warning("%s: unknown section [%s] ignored", path, section)
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{section}] must be a table (a [{section}] header), got {type(value).__name__}")
        cls = _SECTIONS[section]
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        for key, item in value.items():
            if key not in known:
                log.warning("%s: unknown key [%s] %s ignored", path, section, key)
                continue
            kwargs[key] = _expect(path, f"{section}.{key}", item, str(known[key].type))
        sections[section] = cls(**kwargs)
    settings = Settings(**sections, source=path)
    _validate(path, settings)
    return settings


def secrets_path() -> Path:
    raw = os.environ.get(SECRETS_ENV, "").strip()
    if not raw:
        return PROJECT_ROOT / "secrets.toml"
    path = Path(raw)
    return path if path.is_absolute() else Path.cwd() / path


def load_settings(path: Path | None = None) -> Settings:
    """Read the configuration file; a missing file gives the defaults (demo mode)."""
    path = path or secrets_path()
    if not path.exists():
        return Settings()
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_settings(data, str(path))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def make_data_dir_private(settings: Settings) -> Path:
    """The data folder (database, WAL, logs, uploads, backups) readable by the service account only.

    On POSIX: the folders become 0700 and the files 0600, including what an older version left
    world-readable, and the process's umask makes every file it creates from now on 0600.
    Windows keeps the folder's inherited permissions (the README says how to restrict them).
    """
    folder = settings.data_path
    folder.mkdir(parents=True, exist_ok=True)
    if os.name == "nt":
        return folder
    os.umask(0o077)
    os.chmod(folder, 0o700)
    for parent, dirs, files in os.walk(folder):
        for name in dirs:
            if not os.path.islink(os.path.join(parent, name)):  # a link's target is not ours to change
                os.chmod(os.path.join(parent, name), 0o700)
        for name in files:
            path = os.path.join(parent, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)
    return folder


def secret_key(settings: Settings) -> str:
    """The configured secret key, or one generated once into data_dir (signs sign-in tickets)."""
    if settings.security.secret_key:
        return settings.security.secret_key
    path = settings.data_path / "secret_key"
    for _ in range(50):
        if path.exists():
            key = path.read_text(encoding="utf-8").strip()
            if key:
                return key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a temporary file, then linked into place, which fails if another worker
        # got there first: nobody ever reads a half-written or empty key.
        temporary = path.with_name(f"secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        key = secrets.token_urlsafe(48)
        temporary.write_text(key, encoding="utf-8")
        if os.name != "nt":
            os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
            return key
        except FileExistsError:
            continue  # another worker's key is in place: read that one
        finally:
            temporary.unlink(missing_ok=True)
    raise ConfigError(f"{path}: cannot create the secret key (is the data folder writable?)")
