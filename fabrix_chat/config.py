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
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

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
        "ldap.service_password",
    }
)


DEMO_SIGNUP_KEY = "123456"  # demo mode's invite key; refused once the real FabriX is configured
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def _shown(key: str, value: Any) -> str:
    """A value as an error message may show it: never a secret's, not even a malformed one."""
    return "<hidden>" if key in SECRET_KEYS else repr(value)


def _rule(default: Any, expect: str, **constraints: Any) -> Any:
    """A setting's default, its constraints, and what an error says it must be."""
    return Field(default, json_schema_extra={"expect": expect}, **constraints)


def _refuse(expect: str, got: Any = None) -> PydanticCustomError:
    """A rule of the setting broken: `expect` is what it must be, `got` what to show instead of
    the value (the one origin of a list that is wrong, for example)."""
    return PydanticCustomError("setting", "must be {expect}", {"expect": expect, "got": got})


def _refuse_other(key: str, expect: str, got: Any) -> PydanticCustomError:
    """A rule across settings broken: `key` ("name" in this section, or "section.name") is the
    setting the message is about."""
    return PydanticCustomError("setting", "must be {expect}", {"key": key, "expect": expect, "got": got})


def _strings(value: Any, *, lower: bool) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise PydanticCustomError("list_of_strings", "must be a list of strings")
    items = (v.strip() for v in value if v.strip())
    return tuple(v.lower().lstrip("@") for v in items) if lower else tuple(v.rstrip("/") for v in items)


class _Section(BaseModel):
    # strict: true is not 1 and "8080" is not 8080; unknown keys are warned about and left out
    # before validation (parse_settings), never silently taken.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class ServerSettings(_Section):
    host: str = _rule("127.0.0.1", "a host name or address")
    port: int = _rule(3000, "a port number from 1 to 65535", ge=1, le=65535)
    data_dir: str = _rule("data", "a folder path")
    debug: bool = False
    trusted_proxy_hops: int = _rule(0, "from 0 to 5 (the number of reverse proxies in front of the app)", ge=0, le=5)
    allowed_origins: tuple[str, ...] = ()

    @field_validator("host", "data_dir")
    @classmethod
    def _not_blank(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise _refuse(cls.model_fields[info.field_name].json_schema_extra["expect"])  # type: ignore[index]
        return value

    @field_validator("data_dir")
    @classmethod
    def _outside_the_package(cls, value: str) -> str:
        path = Path(value)
        if (path if path.is_absolute() else PROJECT_ROOT / path).resolve().is_relative_to(PACKAGE_DIR):
            raise _refuse("a folder outside the fabrix_chat/ package (development mode reloads on every change there)")
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> tuple[str, ...]:
        origins = _strings(value, lower=False)
        for origin in origins:
            if not (origin.startswith(("http://", "https://")) and "/" not in origin.split("://", 1)[1]):
                raise _refuse(
                    'a list of origins like "https://chat.example.com" (scheme, host and port, no path)', origin
                )
        return origins


class SecuritySettings(_Section):
    secret_key: str = ""


class AuthSettings(_Section):
    admin_signup_key: str = DEMO_SIGNUP_KEY
    allowed_email_domains: tuple[str, ...] = ()
    session_idle_minutes: int = _rule(30, "from 1 to 1440", ge=1, le=24 * 60)
    # false: only personal invitations (admin page, Invitations) let people sign up
    shared_key_signup: bool = True

    @field_validator("admin_signup_key")
    @classmethod
    def _invite_key(cls, key: str) -> str:
        if key and not (6 <= len(key) <= 64 and key.isascii() and key.isalnum()):
            raise _refuse('6 to 64 letters and digits in quotes (or "" to allow no sign-up with a shared key)')
        return key

    @field_validator("allowed_email_domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> tuple[str, ...]:
        return _strings(value, lower=True)


class FabrixSettings(_Section):
    base_url: str = _rule("", "empty or an http(s):// URL", pattern=r"^(https?://.*)?$")
    client_key: str = ""
    openapi_token: str = ""
    user_email: str = ""
    agent_id: str = ""
    client_header: str = _rule("x-fabrix-client", "an HTTP header name", pattern=r"^[A-Za-z0-9-]+$")
    history_turns: int = _rule(10, "from 1 to 100", ge=1, le=100)
    # of [rate_limit] tpm, for one question and its history
    history_token_share: float = _rule(
        0.25,
        "a number above 0 and at most 1 (the share of [rate_limit] tpm one question and its history may use, e.g. 0.25)",
        gt=0,
        le=1,
        allow_inf_nan=False,
    )

    @model_validator(mode="after")
    def _keys_with_the_url(self) -> FabrixSettings:
        for name in ("client_key", "openapi_token"):
            if self.base_url and not getattr(self, name):
                raise _refuse_other(name, "set when base_url is set", "")
        return self

    @property
    def demo_mode(self) -> bool:
        return not self.base_url


class RateLimitSettings(_Section):
    rpm: int = _rule(100, "at least 1", ge=1)
    tpm: int = _rule(10000, "at least 1", ge=1)
    chat_max_wait_seconds: float = _rule(10, "from 0 to 300", ge=0, le=300)
    file_max_wait_seconds: float = _rule(15, "from 0 to 300", ge=0, le=300)
    redis_url: str = _rule("", "empty or a redis:// URL", pattern=r"^((redis|rediss|unix)://.*)?$")

    @field_validator("redis_url")
    @classmethod
    def _protected(cls, url: str) -> str:
        if url.startswith(("redis://", "rediss://", "unix://")) and not _redis_is_protected(url):
            raise _refuse(
                "a URL with a password (redis://:PASSWORD@host:6379/0) when Redis is on another machine: Reflex "
                "keeps the app's state there as pickles, so whoever can write to that Redis can run code in the app"
            )
        return url


class UploadSettings(_Section):
    max_mb: int = _rule(100, "from 1 to 2048", ge=1, le=2048)
    # all of one user's files kept at once (waiting or kept for Retry)
    user_quota_mb: int = _rule(1000, "at most 1000000", le=1_000_000)
    total_quota_mb: int = _rule(20000, "at most 10000000", le=10_000_000)  # all users' files together
    # an upload that would leave less free disk is refused
    min_free_mb: int = _rule(1024, "from 0 to 1000000", ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _quotas_in_order(self) -> UploadSettings:
        if self.user_quota_mb < self.max_mb:
            raise _refuse_other(
                "user_quota_mb", f"at least max_mb ({self.max_mb}) and at most 1000000", self.user_quota_mb
            )
        if self.total_quota_mb < self.user_quota_mb:
            raise _refuse_other(
                "total_quota_mb",
                f"at least user_quota_mb ({self.user_quota_mb}) and at most 10000000",
                self.total_quota_mb,
            )
        return self


class LdapSettings(_Section):
    """Directory sign-in (LDAP / Active Directory); off while `url` is empty."""

    url: str = _rule("", "empty or an ldap:// or ldaps:// URL", pattern=r"^(ldaps?://[^/\s]+/?)?$")
    start_tls: bool = False  # upgrade an ldap:// connection with StartTLS
    ca_file: str = ""  # the CA certificate(s) to trust (PEM); empty: the system's
    # Either bind as the user directly (e.g. "uid={username},ou=people,dc=example,dc=com" or
    # "{username}@corp.example.com" for AD), or search for the user with a service account.
    bind_dn_template: str = ""
    search_base: str = ""
    search_filter: str = _rule("(uid={username})", "an LDAP filter with {username}, e.g. (sAMAccountName={username})")
    service_dn: str = ""
    service_password: str = ""
    email_attribute: str = _rule("mail", "an attribute name", pattern=r"^[A-Za-z][A-Za-z0-9-]*$")
    allowed_group: str = ""  # a group DN: only its members may sign in (empty: anyone in the directory)
    admin_group: str = ""  # a group DN: its members are administrators here
    timeout_seconds: float = _rule(5, "from 1 to 60", ge=1, le=60, allow_inf_nan=False)

    @model_validator(mode="after")
    def _complete(self) -> LdapSettings:
        if not self.url:
            return self
        if not (self.bind_dn_template or self.search_base):
            raise _refuse_other("bind_dn_template", "set (or search_base) when url is set", "")
        if self.bind_dn_template and "{username}" not in self.bind_dn_template:
            raise _refuse_other("bind_dn_template", "a DN with {username}", self.bind_dn_template)
        if self.search_base and "{username}" not in self.search_filter:
            raise _refuse_other("search_filter", "an LDAP filter with {username}", self.search_filter)
        host = urlsplit(self.url).hostname or ""
        if self.url.startswith("ldap://") and not self.start_tls and host not in LOOPBACK_HOSTS:
            raise _refuse_other(
                "url",
                "an ldaps:// URL, or start_tls = true: passwords would cross the network in clear text",
                self.url,
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url)


class QuotaSettings(_Section):
    """Per-user daily limits (0: none); an admin can set another per user on the Users tab."""

    daily_questions: int = _rule(0, "from 0 (no limit) to 1000000", ge=0, le=1_000_000)
    daily_tokens: int = _rule(0, "from 0 (no limit) to 1000000000", ge=0, le=1_000_000_000)


class AuditSettings(_Section):
    keep_days: int = _rule(365, "from 1 to 3650", ge=1, le=3650)


class DatabaseSettings(_Section):
    url: str = _rule("", "empty, a sqlite:/// or a postgresql:// URL", pattern=r"^((sqlite|postgresql).*)?$")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    server: ServerSettings = ServerSettings()
    security: SecuritySettings = SecuritySettings()
    auth: AuthSettings = AuthSettings()
    fabrix_api: FabrixSettings = FabrixSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    upload: UploadSettings = UploadSettings()
    database: DatabaseSettings = DatabaseSettings()
    ldap: LdapSettings = LdapSettings()
    quota: QuotaSettings = QuotaSettings()
    audit: AuditSettings = AuditSettings()
    source: str = ""  # the file these settings came from ("" when none)

    @model_validator(mode="after")
    def _own_invite_key_outside_demo_mode(self) -> Settings:
        if not self.fabrix_api.demo_mode and self.auth.admin_signup_key == DEMO_SIGNUP_KEY:
            raise _refuse_other(
                "auth.admin_signup_key",
                f"your own invite key once [fabrix_api] base_url is set: the demo key {DEMO_SIGNUP_KEY} would let "
                'anyone on the intranet sign up. Choose 6 to 64 letters and digits, or "" to allow no sign-up with a '
                "shared key",
                DEMO_SIGNUP_KEY,
            )
        return self

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
            for name in type(getattr(self, section)).model_fields:
                value = getattr(getattr(self, section), name)
                if f"{section}.{name}" in SECRET_KEYS and value:
                    value = "********"
                elif isinstance(value, tuple):
                    value = list(value)
                values[name] = value
            out[section] = values
        return out


_SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation
    for name, field in Settings.model_fields.items()
    if name != "source"  # type: ignore[misc]
}
# What a value of each type must be, for an error that is about its type.
_TYPE_EXPECT = {
    "bool_type": "true or false",
    "int_type": "a whole number",
    "float_type": "a number",
    "string_type": "a string in quotes",
    "list_of_strings": 'a list of strings, e.g. ["samsung.com"]',
}


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


def _message(path: str, data: dict[str, Any], error: ErrorDetails) -> str:
    """The first validation error as the operator reads it: file, [section] key, what it must be."""
    loc = [str(part) for part in error["loc"] if isinstance(part, str)]
    context = error.get("ctx") or {}
    if "key" in context:  # a rule across settings names the one it is about
        key = str(context["key"])
        loc = key.split(".") if "." in key else [*loc[:1], key]
    section, name = loc[0], loc[1] if len(loc) > 1 else ""
    key = f"{section}.{name}"
    model = _SECTIONS[section]
    if error["type"] in _TYPE_EXPECT:
        expect = _TYPE_EXPECT[error["type"]]
    elif "expect" in context:
        expect = str(context["expect"])
    else:
        extra = model.model_fields[name].json_schema_extra or {}
        expect = str(extra.get("expect", error["msg"]))  # type: ignore[union-attr]
    if "got" in context and context["got"] is not None:
        got = context["got"]
    else:
        got = data.get(section, {}).get(name) if isinstance(data.get(section), dict) else None
    shown = "<hidden>" if key == "database.url" else _shown(key, got)
    return f"{path}: [{section}] {name} must be {expect}, got {shown}"


def parse_settings(data: dict[str, Any], path: str = "secrets.toml") -> Settings:
    """Build Settings from parsed TOML; unknown sections and keys are ignored with a warning."""
    known: dict[str, Any] = {}
    for section, value in data.items():
        if section not in _SECTIONS:
            log.warning("%s: unknown section [%s] ignored", path, section)
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{section}] must be a table (a [{section}] header), got {type(value).__name__}")
        fields_ = _SECTIONS[section].model_fields
        for key in value.keys() - fields_.keys():
            log.warning("%s: unknown key [%s] %s ignored", path, section, key)
        known[section] = {k: v for k, v in value.items() if k in fields_}
    try:
        return Settings.model_validate({**known, "source": path})
    except ValidationError as exc:
        raise ConfigError(_message(path, known, exc.errors()[0])) from None


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
