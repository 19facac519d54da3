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

config = rx.Config(
    app_name="fabrix_chat",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    db_url=settings.database_url,
    redis_url=settings.rate_limit.redis_url or None,
    backend_host=settings.server.host,
    # Behind N reverse proxies the client's address is the Nth from the right in X-Forwarded-For;
    # 0 ignores the header (a client could write anything there).
    trusted_proxy_hops=settings.server.trusted_proxy_hops,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", accent_color="blue", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
