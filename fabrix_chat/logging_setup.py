"""Application logging: console plus a rotating file in data_dir/logs, with every secret masked.

`configure_logging(settings)` is called once at start-up (calling it again replaces its own handlers);
`read_log_tail(settings, ...)` gives the admin page the last records of the file.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fabrix_chat.config import Settings

LOG_DIR_NAME = "logs"
LOG_FILE_NAME = "fabrix_chat.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUP_COUNT = 5
# " | " separates the fields so read_log_tail can split them back; a message may contain anything.
LOG_FORMAT = "%(asctime)s | %(levelname)s | %(name)s | %(message)s"
MASK = "********"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Secrets shorter than this are not masked: they would blank out ordinary words and numbers.
_MIN_SECRET_LENGTH = 4
# Shorter secrets (the 6-digit invite key) are masked only as a whole token, not inside longer numbers.
_SHORT_SECRET_LENGTH = 12
_TAIL_BLOCK = 64 * 1024
_HANDLER_MARK = "_fabrix_chat_handler"

_BEARER_RE = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
# scheme://user:PASSWORD@host -- any URL with credentials, configured or not.
_URL_PASSWORD_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+(@)")
_HEADER_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \| ([A-Z]+) \| (.*?) \| (.*)$")


def log_file_path(settings: Settings) -> Path:
    """data_dir/logs/fabrix_chat.log."""
    return settings.data_path / LOG_DIR_NAME / LOG_FILE_NAME


def _url_password(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value the settings hold, in the forms it may appear in a log line."""
    values = [
        settings.security.secret_key,
        settings.auth.admin_signup_key,
        settings.fabrix_api.client_key,
        settings.fabrix_api.openapi_token,
        settings.database.url,
        settings.rate_limit.redis_url,
    ]
    token = settings.fabrix_api.openapi_token.strip()
    if token.lower().startswith("bearer "):
        values.append(token[len("bearer ") :].strip())
    values += _url_password(settings.database.url) + _url_password(settings.rate_limit.redis_url)
    # The secret key generated into data_dir when none is configured; reading it never creates it.
    generated = settings.data_path / "secret_key"
    if not settings.security.secret_key and generated.is_file():
        values.append(generated.read_text(encoding="utf-8").strip())
    return [v for v in dict.fromkeys(values) if v and len(v) >= _MIN_SECRET_LENGTH]


class SecretMaskFilter(logging.Filter):
    """Replaces secrets, Bearer tokens and URL passwords in a record's message and traceback with a mask."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        parts = []
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(set(secrets), key=len, reverse=True):
            escaped = re.escape(secret)
            if len(secret) < _SHORT_SECRET_LENGTH:
                escaped = rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"
            parts.append(escaped)
        self._secrets_re = re.compile("|".join(parts)) if parts else None

    def mask(self, text: str) -> str:
        """The text with every secret replaced by the mask."""
        text = _BEARER_RE.sub(rf"\1 {MASK}", text)
        text = _URL_PASSWORD_RE.sub(rf"\1{MASK}\2", text)
        if self._secrets_re is not None:
            text = self._secrets_re.sub(MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            # Arguments that don't fit the format: the handler reports that itself, as it always does.
            return True
        # The record is formatted here, once, so the handlers only ever see the masked text.
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def configure_logging(settings: Settings, *, console: bool = True, level: int | None = None) -> Path:
    """Log to the console and to data_dir/logs/fabrix_chat.log (10 MB x 5), secrets masked; returns the file path.

    Idempotent: a second call replaces the handlers of the first instead of adding more.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()

    path = log_file_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = SecretMaskFilter(configured_secrets(settings))
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [
        RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=True)
    ]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        setattr(handler, _HANDLER_MARK, True)
        handler.setFormatter(formatter)
        # On the handler, not the logger: a logger's filters skip records propagated from child loggers.
        handler.addFilter(mask)
        root.addHandler(handler)

    root.setLevel(level if level is not None else logging.DEBUG if settings.server.debug else logging.INFO)
    # One INFO line per HTTP request to FabriX, or three per migration check, would drown everything else
    # (maintenance.migrate logs the migrations it applies itself).
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path


def _level_number(level: str | None) -> int:
    if level is None or not level.strip():
        return 0
    name = level.strip().upper()
    if name not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    return logging.getLevelNamesMapping()[name]


def _parse(lines: list[bytes]) -> list[dict[str, str]]:
    """Log lines -> records; lines without a header (tracebacks, multi-line messages) join the record above."""
    records: list[dict[str, str]] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        match = _HEADER_RE.match(line)
        if match:
            time_, level_, logger, message = match.groups()
            records.append({"time": time_, "level": level_, "logger": logger, "message": message})
        elif records:
            records[-1]["message"] += "\n" + line
        # Continuation lines before the first header belong to a record outside the window: dropped.
    return records


def read_log_tail(
    settings: Settings, lines: int = 200, level: str | None = None, *, max_bytes: int = 2 * 1024 * 1024
) -> list[dict[str, str]]:
    """The last `lines` records of the log file at `level` and above, oldest first.

    Each record is {"time", "level", "logger", "message"}. The file is read backwards from its end in
    blocks, and no more than `max_bytes` of it, so a full 10 MB log costs little; a rare level may
    therefore return fewer records than asked.
    """
    if lines < 1:
        raise ValueError("lines must be at least 1")
    minimum = _level_number(level)
    numbers = logging.getLevelNamesMapping()
    path = log_file_path(settings)
    if not path.is_file():
        return []
    with open(path, "rb") as fh:
        end = fh.seek(0, 2)
        start, data = end, b""
        while True:
            step = min(_TAIL_BLOCK, start)
            start -= step
            fh.seek(start)
            data = fh.read(step) + data
            physical = data.split(b"\n")
            if physical and physical[-1] == b"":
                physical.pop()
            if start > 0:
                physical = physical[1:]  # starts mid-line
            records = [r for r in _parse(physical) if numbers.get(r["level"], 0) >= minimum]
            if len(records) >= lines or start == 0 or end - start >= max_bytes:
                return records[-lines:]
