"""Reflex configuration, derived from secrets.toml (see fabrix_chat/config.py)."""

import os

import reflex as rx

from fabrix_chat.config import get_settings

settings = get_settings()

# Development mode's hot reload watches only the app package. By default Reflex watches every
# top-level folder, so the database, WAL, logs and uploads the app writes into data_dir restarted
# the back end in a loop; config.py refuses a data_dir inside the package. A relative path, since
# Reflex splits this variable on ":" (a Windows drive letter would break it).
os.environ.setdefault("REFLEX_HOT_RELOAD_OVERRIDE_PATHS", "fabrix_chat")

# Service mode keeps each tab's state on disk too (Reflex's disk state manager): pickles holding
# what the tab shows, conversations included. They go in data_dir with the other private data, not
# in `.states/` beside the code.
os.environ.setdefault("REFLEX_STATES_WORKDIR", str(settings.data_path / "states"))

# Reflex's state store in Redis (with redis_url): the token expiration is in seconds, the lock
# times in milliseconds, as Reflex counts them.
STATE_EXPIRATION_SECONDS = 12 * 60 * 60  # a tab left open over a working day keeps its state
STATE_LOCK_EXPIRATION_MS = 30_000  # a lock held longer is broken; headroom over SQLite's 10 s busy timeout
STATE_LOCK_WARNING_MS = 1_000  # a tab's lock held this long is logged (Reflex's default), long before 30 s
# Reflex's opportunistic lock: a worker keeps an uncontended tab's lock and state in memory for
# this long and writes the state back once, instead of a lock, a read and a write per event (an
# answer is three events). Another worker that needs the tab asks and gets it at once.
OPLOCK_HOLD_SECONDS = 5


def redis_state_options(redis_url: str) -> dict[str, int]:
    """rx.Config's state-store timings with Redis; none without it, where Reflex's defaults stay.

    Without Redis every tab's state lives in this process's memory until it expires, and twelve
    hours of tabs would stay there instead of one (the 512 MB target).
    """
    if not redis_url:
        return {}
    os.environ.setdefault("REFLEX_OPLOCK_ENABLED", "true")
    os.environ.setdefault("REFLEX_OPLOCK_HOLD_TIME", f"{OPLOCK_HOLD_SECONDS}s")
    return {
        "redis_token_expiration": STATE_EXPIRATION_SECONDS,
        "redis_lock_expiration": STATE_LOCK_EXPIRATION_MS,
        "redis_lock_warning_threshold": STATE_LOCK_WARNING_MS,
    }


config = rx.Config(
    app_name="fabrix_chat",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    db_url=settings.database_url,
    redis_url=settings.rate_limit.redis_url or None,
    **redis_state_options(settings.rate_limit.redis_url),
    backend_host=settings.server.host,
    # Behind N reverse proxies the client's address is the Nth from the right in X-Forwarded-For;
    # 0 ignores the header (a client could write anything there).
    trusted_proxy_hops=settings.server.trusted_proxy_hops,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", accent_color="blue", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
