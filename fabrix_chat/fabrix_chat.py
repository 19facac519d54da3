"""The Reflex app: routes and the start-up/shut-down work. Nothing else lives here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from fabrix_chat.config import get_settings, make_data_dir_private
from fabrix_chat.db import run_db
from fabrix_chat.fabrix import client as fabrix_client
from fabrix_chat.logging_setup import configure_logging
from fabrix_chat.pages.admin import admin_page
from fabrix_chat.pages.chat import chat_page
from fabrix_chat.pages.login import login_page
from fabrix_chat.pages.shared import shared_page
from fabrix_chat.pages.signup import signup_page
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services import files as file_service
from fabrix_chat.services import maintenance, redis_watch
from fabrix_chat.state.admin import AdminState
from fabrix_chat.state.auth import AuthState
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.failures import show_failure
from fabrix_chat.state.share import SharedState
from fabrix_chat.web import SecurityMiddleware, dev_same_site_script, extra_routes

log = logging.getLogger("fabrix_chat")


async def sweep_hourly() -> None:
    """At start and then hourly: every user's stored files older than a day (a closed tab, a
    crash), and sessions idle too long or sign-in tickets never redeemed."""
    settings = get_settings()
    while True:
        try:
            removed = await asyncio.to_thread(file_service.sweep_all_stale)
            if removed:
                log.info("removed %d stored files older than a day", removed)
            ended = await run_db(
                users_repo.purge_sessions,
                idle_minutes=settings.auth.session_idle_minutes,
                ticket_seconds=auth_service.TICKET_SECONDS,
                placeholder_prefix=auth_service.PLACEHOLDER_PREFIX,
            )
            if ended:
                log.info("forgot %d idle sessions and unredeemed sign-in tickets", ended)
        except (OSError, SQLAlchemyError) as exc:
            log.warning("the hourly sweep failed (it runs again in an hour): %s", type(exc).__name__)
        await asyncio.sleep(3600)


async def stop_interrupted_answers(delay: float = 0.0) -> None:
    """Answers left "streaming" by an instance that stopped (no heartbeat for a while) become "stopped"."""
    if delay:
        await asyncio.sleep(delay)
    try:
        interrupted = await run_db(conv_repo.mark_interrupted, stale_after_seconds=conv_repo.HEARTBEAT_STALE_SECONDS)
    except SQLAlchemyError:
        log.exception("looking for interrupted answers failed")
        return
    if interrupted:
        log.warning("%d answers were interrupted by a shutdown; kept as stopped", interrupted)


INTERRUPTED_SWEEP_SECONDS = 30.0


async def keep_stopping_interrupted_answers() -> None:
    await stop_interrupted_answers(delay=conv_repo.HEARTBEAT_STALE_SECONDS + 2)
    while True:
        await stop_interrupted_answers(delay=INTERRUPTED_SWEEP_SECONDS)


@contextlib.asynccontextmanager
async def lifespan():
    """Logging, the demo emulator when no FabriX is configured, and a clean shutdown."""
    settings = get_settings()
    make_data_dir_private(settings)
    run_lock = maintenance.hold_run_lock(settings)  # `manage restore` refuses while this is held
    configure_logging(settings)
    log.info("back end started (process %d)", os.getpid())
    notifications = None
    if settings.rate_limit.redis_url:
        auth_service.use_redis_for_throttles(settings.rate_limit.redis_url)
        # What Reflex's state store needs after a Redis restart (services/redis_watch.py).
        notifications = asyncio.create_task(
            redis_watch.recover_after_restarts(
                settings.rate_limit.redis_url, rx.config.get_config().redis_lock_expiration
            )
        )
    emulator = None
    if settings.fabrix_api.demo_mode:
        from fabrix_chat.emulator import start_in_thread

        emulator = start_in_thread()
        fabrix_client.set_base_url_override(
            emulator.base_url, emulator.client_key, emulator.token, client_header=emulator.client_header
        )
        log.info("demo mode: built-in FabriX emulator at %s", emulator.base_url)
    else:
        log.info("FabriX at %s", settings.fabrix_api.base_url)
    await stop_interrupted_answers()
    sweeper = asyncio.create_task(sweep_hourly())
    # An instance that died less than a heartbeat ago still looks alive now, and another may die
    # while this one runs: look again a little later, and then every half minute.
    second_look = asyncio.create_task(keep_stopping_interrupted_answers())
    try:
        yield
    finally:
        sweeper.cancel()
        second_look.cancel()
        if notifications is not None:
            notifications.cancel()
        run_lock.close()
        await fabrix_client.close_client()
        if emulator is not None:
            emulator.stop()


app = rx.App(
    stylesheets=["/styles.css"],
    head_components=[
        rx.el.meta(name="viewport", content="width=device-width, initial-scale=1"),
        *([rx.script(script)] if (script := dev_same_site_script()) else []),
        rx.script(src="/problem.js"),  # the plain message of an event that failed (state/failures.py)
    ],
    api_transformer=[extra_routes(), SecurityMiddleware],
    backend_exception_handler=show_failure,
)
app.register_lifespan_task(lifespan)

app.add_page(login_page, route="/login", title="Log in · FabriX Agent Chat", on_load=AuthState.redirect_if_signed_in)
app.add_page(signup_page, route="/signup", title="Sign up · FabriX Agent Chat", on_load=AuthState.redirect_if_signed_in)
app.add_page(chat_page, route="/chat", title="FabriX Agent Chat", on_load=ChatState.load_page)
app.add_page(chat_page, route="/chat/[chat_id]", title="FabriX Agent Chat", on_load=ChatState.load_page)
app.add_page(shared_page, route="/shared/[token]", title="Shared chat · FabriX Agent Chat", on_load=SharedState.load)
app.add_page(admin_page, route="/admin", title="Admin · FabriX Agent Chat", on_load=AdminState.load_page)
app.add_page(lambda: rx.fragment(), route="/", on_load=rx.redirect("/chat"))
