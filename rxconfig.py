"""Reflex configuration, derived from secrets.toml (see fabrix_chat/config.py)."""

import reflex as rx

from fabrix_chat.config import get_settings

settings = get_settings()

config = rx.Config(
    app_name="fabrix_chat",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    db_url=settings.database_url,
    redis_url=settings.rate_limit.redis_url or None,
    backend_host=settings.server.host,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", accent_color="blue", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
