"""secrets.toml: defaults, the full schema, and a clear message for every kind of bad file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fabrix_chat.config import ConfigError, Settings, load_settings, make_data_dir_private, secret_key
from tests.reflex_tab import oplock_enabled

EXAMPLE = Path(__file__).resolve().parents[2] / "secrets.toml.example"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_means_defaults_and_demo_mode(tmp_path):
    settings = load_settings(tmp_path / "nope.toml")
    assert settings == Settings()
    assert settings.fabrix_api.demo_mode
    assert settings.server.port == 3000 and settings.rate_limit.rpm == 100


def test_example_file_is_valid_and_documents_every_key():
    settings = load_settings(EXAMPLE)
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, values in settings.masked().items():
        assert f"[{section}]" in text
        for key in values:
            assert f"{key} =" in text, f"{section}.{key} is not documented in secrets.toml.example"


def test_full_schema_is_read(tmp_path):
    path = write(
        tmp_path,
        """
[server]
host = "0.0.0.0"
port = 8080
data_dir = "/srv/fabrix"
debug = true
[security]
secret_key = "s3cret"
[auth]
admin_signup_key = "654321"
allowed_email_domains = ["Samsung.com", "@sds.co.kr"]
session_idle_minutes = 15
[fabrix_api]
base_url = "https://fabrix.example/api-agent"
client_key = "ck"
openapi_token = "Bearer tok"
user_email = "bot@samsung.com"
agent_id = "abc"
client_header = "x-generative-ai-client"
history_turns = 4
history_token_share = 0.5
[rate_limit]
rpm = 10
tpm = 2000
chat_max_wait_seconds = 5
file_max_wait_seconds = 7.5
redis_url = "redis://localhost:6379/0"
[upload]
max_mb = 20
[database]
url = "postgresql+psycopg://u:p@db/fabrix"
""",
    )
    s = load_settings(path)
    assert s.server.host == "0.0.0.0" and s.server.port == 8080 and s.server.debug
    assert s.auth.allowed_email_domains == ("samsung.com", "sds.co.kr")
    assert not s.fabrix_api.demo_mode and s.fabrix_api.history_turns == 4
    assert s.rate_limit.file_max_wait_seconds == 7.5
    assert s.fabrix_api.history_token_share == 0.5 and s.history_token_budget == 1000
    assert s.database_url.startswith("postgresql") and not s.is_sqlite
    assert s.upload_max_bytes == 20 * 1024 * 1024


def test_history_budget_is_a_share_of_tpm(tmp_path):
    assert Settings().fabrix_api.history_token_share == 0.25
    assert Settings().history_token_budget == 2500, "a quarter of the default tpm of 10,000"
    whole = load_settings(write(tmp_path, "[fabrix_api]\nhistory_token_share = 1\n[rate_limit]\ntpm = 3000\n"))
    assert whole.fabrix_api.history_token_share == 1.0 and whole.history_token_budget == 3000
    tiny = load_settings(write(tmp_path, "[fabrix_api]\nhistory_token_share = 0.01\n[rate_limit]\ntpm = 5\n"))
    assert tiny.history_token_budget == 1, "never a budget of 0"


def test_unknown_keys_are_ignored_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, '[server]\nport = 3001\ncolour = "blue"\n[django]\nx = 1\n')
    assert load_settings(path).server.port == 3001
    assert "colour" in caplog.text and "[django]" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server\nport = 1", "not valid TOML"),
        ('[server]\nport = "abc"', "[server] port must be a whole number"),
        ("[server]\nport = 70000", "[server] port must be a port number"),
        ("[server]\ndebug = 1", "[server] debug must be true or false"),
        ('[auth]\nadmin_signup_key = "12-456"', "[auth] admin_signup_key must be 6 to 64 letters and digits"),
        ('[auth]\nadmin_signup_key = "12345"', "[auth] admin_signup_key must be 6 to 64 letters and digits"),
        (f'[auth]\nadmin_signup_key = "{"a" * 65}"', "[auth] admin_signup_key must be 6 to 64 letters and digits"),
        (
            '[fabrix_api]\nbase_url = "https://x"\nclient_key = "k"\nopenapi_token = "t"',
            "[auth] admin_signup_key must be your own invite key once [fabrix_api] base_url is set",
        ),
        (
            '[auth]\nadmin_signup_key = "123456"\n[fabrix_api]\nbase_url = "https://x"\nclient_key = "k"\nopenapi_token = "t"',
            "the demo key 123456 would let anyone on the intranet sign up",
        ),
        (
            '[rate_limit]\nredis_url = "redis://cache.intra:6379/0"',
            "[rate_limit] redis_url must be a URL with a password",
        ),
        ("[auth]\nadmin_signup_key = 123456", "[auth] admin_signup_key must be a string"),
        ('[auth]\nallowed_email_domains = "samsung.com"', "[auth] allowed_email_domains must be a list"),
        ('[fabrix_api]\nbase_url = "ftp://x"', "[fabrix_api] base_url must be empty or an http(s):// URL"),
        ('[fabrix_api]\nbase_url = "https://x"', "[fabrix_api] client_key must be set"),
        (
            "[fabrix_api]\nhistory_token_share = 0",
            "[fabrix_api] history_token_share must be a number above 0 and at most 1",
        ),
        ("[fabrix_api]\nhistory_token_share = -0.25", "[fabrix_api] history_token_share must be a number above 0"),
        ("[fabrix_api]\nhistory_token_share = 1.5", "[fabrix_api] history_token_share must be a number above 0"),
        ("[fabrix_api]\nhistory_token_share = nan", "[fabrix_api] history_token_share must be a number above 0"),
        ('[fabrix_api]\nhistory_token_share = "0.25"', "[fabrix_api] history_token_share must be a number, got '0.25'"),
        ("[rate_limit]\nrpm = 0", "[rate_limit] rpm must be at least 1"),
        ('[rate_limit]\nredis_url = "http://x"', "[rate_limit] redis_url must be empty or a redis:// URL"),
        ("[upload]\nmax_mb = -1", "[upload] max_mb must be from 1 to 2048"),
        ('[database]\nurl = "mysql://x"', "[database] url must be empty"),
        ("server = 3", "[server] must be a table"),
        (
            '[server]\ndata_dir = "fabrix_chat/data"',
            "[server] data_dir must be a folder outside the fabrix_chat/ package",
        ),
    ],
)
def test_bad_values_name_the_file_the_key_and_what_is_expected(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


@pytest.mark.parametrize(
    "text",
    [
        '[rate_limit]\nredis_url = "http://user:hunter2@x"',
        '[auth]\nadmin_signup_key = "hunter2-!"',  # malformed, still a secret
        "[auth]\nadmin_signup_key = 1234567",
        '[database]\nurl = "mysql://u:hunter2@db/x"',
    ],
)
def test_secret_values_never_appear_in_error_messages(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "hunter2" not in str(info.value) and "1234567" not in str(info.value)
    assert "<hidden>" in str(info.value)


def test_longer_invite_keys_work_and_a_six_digit_key_still_does(tmp_path):
    real = '[fabrix_api]\nbase_url = "https://x"\nclient_key = "k"\nopenapi_token = "t"\n'
    for key in ("654321", "Spring2027Team", "a" * 64, ""):
        assert (
            load_settings(write(tmp_path, f'[auth]\nadmin_signup_key = "{key}"\n{real}')).auth.admin_signup_key == key
        )
    assert load_settings(write(tmp_path, "")).auth.admin_signup_key == "123456", "demo mode keeps the demo key"


def test_redis_on_this_machine_may_go_without_a_password(tmp_path):
    for url in (
        "redis://localhost:6379/0",
        "redis://127.0.0.1:6379",
        "unix:///run/redis.sock",
        "redis://:pw@cache:6379",
    ):
        assert load_settings(write(tmp_path, f'[rate_limit]\nredis_url = "{url}"')).rate_limit.redis_url == url


def test_non_utf8_file_is_refused_clearly(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_bytes(b'[server]\nhost = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_masked_settings_hide_every_secret(tmp_path):
    path = write(
        tmp_path,
        '[security]\nsecret_key = "aaa"\n[auth]\nadmin_signup_key = "Invite2027"\n'
        '[fabrix_api]\nbase_url = "https://x"\nclient_key = "bbb"\nopenapi_token = "ccc"\n',
    )
    masked = load_settings(path).masked()
    flat = repr(masked)
    for secret in ("aaa", "bbb", "ccc", "Invite2027"):
        assert secret not in flat
    assert masked["fabrix_api"]["base_url"] == "https://x"


def test_secret_key_is_generated_once_into_data_dir(tmp_path):
    path = write(tmp_path, f'[server]\ndata_dir = "{tmp_path.as_posix()}/d"\n')
    settings = load_settings(path)
    first = secret_key(settings)
    assert len(first) >= 40
    assert secret_key(settings) == first
    assert (tmp_path / "d" / "secret_key").read_text().strip() == first


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_the_data_folder_and_its_files_become_private(tmp_path):
    data = tmp_path / "data"
    (data / "uploads" / "7").mkdir(parents=True)
    old = [data / "fabrix_chat.db", data / "fabrix_chat.db-wal", data / "uploads" / "7" / "notes.txt"]
    for path in old:
        path.write_text("x", encoding="utf-8")
        path.chmod(0o644)
    (data / "uploads").chmod(0o755)
    settings = load_settings(write(tmp_path, f'[server]\ndata_dir = "{data.as_posix()}"\n'))
    previous = os.umask(0o022)
    try:
        make_data_dir_private(settings)
        new = data / "backups" / "later.db"
        new.parent.mkdir()
        new.write_text("x", encoding="utf-8")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "uploads").stat().st_mode) == 0o700
    for path in [*old, new]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(new.parent.stat().st_mode) == 0o700


def test_workers_starting_at_once_agree_on_one_secret_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    settings = load_settings(write(tmp_path, f'[server]\ndata_dir = "{tmp_path.as_posix()}/d"\n'))
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: secret_key(settings), range(32)))
    assert len(keys) == 1 and len(keys.pop()) >= 40
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["secret_key"], "no temporary file is left"


@pytest.fixture
def load_rxconfig(monkeypatch):
    """rxconfig.py imported afresh with the given settings (Reflex itself imports it the same way)."""
    import importlib
    import sys

    import fabrix_chat.config

    # rxconfig sets these on import; monkeypatch puts the environment back afterwards.
    monkeypatch.setenv("REFLEX_HOT_RELOAD_OVERRIDE_PATHS", "fabrix_chat")
    monkeypatch.delenv("REFLEX_OPLOCK_ENABLED", raising=False)
    monkeypatch.delenv("REFLEX_OPLOCK_HOLD_TIME", raising=False)

    def load(settings: Settings):
        monkeypatch.setattr(fabrix_chat.config, "get_settings", lambda: settings)
        sys.modules.pop("rxconfig", None)
        return importlib.import_module("rxconfig")

    yield load
    sys.modules.pop("rxconfig", None)  # the next import reads the real settings again


def test_with_redis_a_tabs_state_lasts_a_working_day(load_rxconfig):
    from reflex.istate.manager.redis import StateManagerRedis

    from fabrix_chat.config import RateLimitSettings

    rxconfig = load_rxconfig(Settings(rate_limit=RateLimitSettings(redis_url="redis://localhost:6379/0")))
    config = rxconfig.config
    assert config.redis_token_expiration == 12 * 60 * 60, "seconds"
    assert config.redis_lock_expiration == 30_000, "milliseconds"
    assert config.redis_lock_warning_threshold < config.redis_lock_expiration
    # Reflex refuses a warning threshold at or above the lock expiration, or an opportunistic
    # lock held as long as the lock lasts, when it starts.
    manager = StateManagerRedis(
        redis=None,
        token_expiration=config.redis_token_expiration,
        lock_expiration=config.redis_lock_expiration,
        lock_warning_threshold=config.redis_lock_warning_threshold,
    )
    assert oplock_enabled(manager) and manager.oplock_hold_time_ms == 5_000


def test_without_redis_reflex_keeps_its_own_state_timings(load_rxconfig):
    from reflex_base.constants import Expiration

    config = load_rxconfig(Settings()).config
    assert config.redis_url is None
    assert "REFLEX_OPLOCK_ENABLED" not in os.environ
    assert config.redis_token_expiration == Expiration.TOKEN, "states in this process's memory: one hour, not twelve"


def test_reflex_keeps_tab_states_in_the_private_data_folder(tmp_path):
    """Service mode's disk state manager writes every tab's state (what it shows) as pickles: they
    belong with the other private data, not beside the code."""
    import json
    import os
    import subprocess
    import sys

    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[server]\ndata_dir = "{(tmp_path / "data").as_posix()}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "REFLEX_STATES_WORKDIR"} | {"FABRIX_CHAT_SECRETS": str(secrets)}
    code = "import json, os, rxconfig; print(json.dumps(os.environ['REFLEX_STATES_WORKDIR']))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == str(tmp_path / "data" / "states")
