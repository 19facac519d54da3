"""Logging: rotating file settings, secrets never written, the admin page's tail with a level filter."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest

from fabrix_chat.config import (
    AuthSettings,
    DatabaseSettings,
    FabrixSettings,
    RateLimitSettings,
    SecuritySettings,
    ServerSettings,
    Settings,
)
from fabrix_chat.logging_setup import (
    MASK,
    SecretMaskFilter,
    configure_logging,
    log_file_path,
    read_log_tail,
)

SECRETS = {
    "client_key": "ck-9f8e7d6c5b4a",
    "token": "tok_A1b2C3d4E5f6G7h8",
    "secret_key": "s3cr3t-signing-key-0123456789",
    "invite": "482913",
    "db_password": "dbP@ss:word",
    "redis_password": "r3disPass",
}


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """Leave the root logger as the test found it (pytest's own handlers included)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        server=ServerSettings(data_dir=str(tmp_path / "data")),
        security=SecuritySettings(secret_key=SECRETS["secret_key"]),
        auth=AuthSettings(admin_signup_key=SECRETS["invite"]),
        fabrix_api=FabrixSettings(
            base_url="https://fabrix.example",
            client_key=SECRETS["client_key"],
            openapi_token=f"Bearer {SECRETS['token']}",
        ),
        rate_limit=RateLimitSettings(redis_url=f"redis://:{SECRETS['redis_password']}@cache:6379/0"),
        database=DatabaseSettings(url="postgresql+psycopg://app:dbP%40ss%3Aword@db.example:5432/fabrix"),
    )


def our_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_fabrix_chat_handler", False)]


def flush() -> None:
    for handler in our_handlers():
        handler.flush()


def test_file_rotates_at_10_mb_keeping_5_and_a_second_call_adds_no_handlers(
    settings: Settings, restore_root_logger: None
) -> None:
    path = configure_logging(settings)
    configure_logging(settings)

    assert path == settings.data_path / "logs" / "fabrix_chat.log" == log_file_path(settings)
    handlers = our_handlers()
    files = [h for h in handlers if isinstance(h, RotatingFileHandler)]
    assert len(handlers) == 2 and len(files) == 1  # one file, one console
    assert files[0].maxBytes == 10 * 1024 * 1024
    assert files[0].backupCount == 5
    assert Path(files[0].baseFilename) == path


def test_no_secret_is_ever_written_to_the_file(settings: Settings, restore_root_logger: None) -> None:
    path = configure_logging(settings, console=False)
    log = logging.getLogger("fabrix_chat.test")
    log.warning("calling FabriX with key %s and token %s", SECRETS["client_key"], SECRETS["token"])
    log.warning("headers: {'Authorization': 'Bearer %s'}", SECRETS["token"])
    log.warning("Authorization: bearer some.other-token_value==")
    log.warning("invite key given: %s; signing with %s", SECRETS["invite"], SECRETS["secret_key"])
    log.error("cannot reach %s", "postgresql+psycopg://app:dbP%40ss%3Aword@db.example:5432/fabrix")
    log.error("redis down: redis://:%s@cache:6379/0", SECRETS["redis_password"])
    log.error("decoded password %s in a driver message", SECRETS["db_password"])
    log.error("any url: https://bob:hunter22@proxy.internal/x")
    try:
        raise RuntimeError(f"upstream said 401 for client key {SECRETS['client_key']}")
    except RuntimeError:
        log.exception("request failed")
    log.info("took 1482913 ms for request 4829130")  # the invite key inside other numbers is not a secret
    flush()

    text = path.read_text(encoding="utf-8")
    assert "took 1482913 ms for request 4829130" in text
    text = text.replace("took 1482913 ms for request 4829130", "")
    for secret in [*SECRETS.values(), "dbP%40ss%3Aword", "some.other-token_value", "hunter22"]:
        assert secret not in text, secret
    assert text.count(MASK) >= 11
    assert "Traceback" in text and "RuntimeError" in text  # the traceback is kept, masked


def test_generated_secret_key_is_masked_too(tmp_path: Path, restore_root_logger: None) -> None:
    settings = Settings(server=ServerSettings(data_dir=str(tmp_path)))
    (tmp_path / "secret_key").write_text("generated-key-abcdefghijklmnop", encoding="utf-8")
    path = configure_logging(settings, console=False)
    logging.getLogger("fabrix_chat.test").warning("key is generated-key-abcdefghijklmnop")
    flush()
    assert "generated-key" not in path.read_text(encoding="utf-8")


def test_mask_filter_keeps_records_without_secrets_unchanged() -> None:
    mask = SecretMaskFilter(["abcdef123456"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "user %s sent %d bytes", ("alice", 42), None)
    assert mask.filter(record) is True
    assert record.getMessage() == "user alice sent 42 bytes"


def write_log(settings: Settings, entries: list[tuple[int, str]]) -> None:
    path = configure_logging(settings, console=False)
    log = logging.getLogger("fabrix_chat.tail")
    for level, message in entries:
        log.log(level, message)
    flush()
    assert path.exists()


def test_tail_returns_the_last_records_oldest_first(settings: Settings, restore_root_logger: None) -> None:
    write_log(settings, [(logging.INFO, f"message {i}") for i in range(50)])
    tail = read_log_tail(settings, lines=3)
    assert [r["message"] for r in tail] == ["message 47", "message 48", "message 49"]
    assert tail[0]["level"] == "INFO" and tail[0]["logger"] == "fabrix_chat.tail"
    assert tail[0]["time"][:2] == "20"


def test_tail_level_filter_means_that_level_and_above(settings: Settings, restore_root_logger: None) -> None:
    write_log(
        settings,
        [
            (logging.INFO, "started"),
            (logging.WARNING, "slow call: 2.5 s"),
            (logging.ERROR, "upstream failed"),
            (logging.INFO, "request done"),
            (logging.CRITICAL, "disk full"),
            (logging.DEBUG, "not logged at INFO level"),
        ],
    )
    assert [r["message"] for r in read_log_tail(settings, level="warning")] == [
        "slow call: 2.5 s",
        "upstream failed",
        "disk full",
    ]
    assert [r["message"] for r in read_log_tail(settings, level="ERROR")] == ["upstream failed", "disk full"]
    assert len(read_log_tail(settings, level=None)) == 5
    with pytest.raises(ValueError, match="level must be one of"):
        read_log_tail(settings, level="LOUD")


def test_tail_keeps_a_traceback_with_its_record(settings: Settings, restore_root_logger: None) -> None:
    configure_logging(settings, console=False)
    log = logging.getLogger("fabrix_chat.tail")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("handler crashed")
    log.info("after")
    flush()
    crashed, after = read_log_tail(settings, lines=2)
    assert crashed["level"] == "ERROR"
    assert crashed["message"].startswith("handler crashed\nTraceback")
    assert crashed["message"].endswith("ValueError: boom")
    assert after["message"] == "after"


def test_tail_of_a_large_file_reads_only_its_end(settings: Settings, restore_root_logger: None) -> None:
    path = log_file_path(settings)
    path.parent.mkdir(parents=True)
    filler = "2026-01-01 00:00:00,000 | INFO | old | " + "x" * 200 + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("2026-01-01 00:00:00,000 | ERROR | old | an error far back\n")
        fh.write(filler * 20_000)  # about 4.7 MB
        for i in range(5):
            fh.write(f"2026-01-02 00:00:0{i},000 | WARNING | new | 한국어 message {i}\n")

    assert [r["message"] for r in read_log_tail(settings, lines=5)] == [f"한국어 message {i}" for i in range(5)]
    # The error 4.7 MB back is beyond the default 2 MB window: the filter looks back only that far.
    assert [r["logger"] for r in read_log_tail(settings, level="ERROR")] == []
    assert [r["message"] for r in read_log_tail(settings, level="ERROR", max_bytes=10 * 1024 * 1024)] == [
        "an error far back"
    ]


def test_tail_without_a_log_file_is_empty(settings: Settings) -> None:
    assert read_log_tail(settings) == []
