"""The admin page (/admin): users, conversations, usage, logs, maintenance and settings.

Every handler first checks, against the database, that the signed-in user is an active
administrator (`_admin`), and refuses otherwise: nothing is read or changed, the admin data
held by the state is cleared, and the browser is sent away. Slow work (backup, VACUUM, the
log file) runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlmodel import Session

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.logging_setup import log_file_path, read_log_tail
from fabrix_chat.models import User
from fabrix_chat.repo import usage as usage_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.repo.admin import admin_conversations, admin_delete_conversation, admin_open_conversation
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import files as file_service
from fabrix_chat.services import maintenance
from fabrix_chat.state.auth import HOME_ROUTE, LOGIN_ROUTE, AuthState
from fabrix_chat.state.ui import UIState

log = logging.getLogger(__name__)

TABS = ("users", "conversations", "usage", "logs", "maintenance", "settings")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_LINES = 200
USAGE_DAYS = 30
LIST_LIMIT = 200
MAX_CLEANUP_DAYS = 36_500
# secrets.token_urlsafe(12) gives 16 characters: easy to pass on, far beyond guessing.
GENERATED_PASSWORD_BYTES = 12
NOT_SET = "—"
# The create-user form's text fields (element ids), emptied after a user is created.
CREATE_FORM_FIELDS = ("admin-new-username", "admin-new-email", "admin-new-password")


# --- what the page shows ----------------------------------------------------------------------


@dataclasses.dataclass
class UserRow:
    id: int = 0
    username: str = ""
    email: str = ""
    is_admin: bool = False
    is_active: bool = True
    created: str = ""
    last_login: str = ""


@dataclasses.dataclass
class UserOption:
    id: str = ""
    username: str = ""


@dataclasses.dataclass
class ConversationRow:
    id: int = 0
    title: str = ""
    username: str = ""
    updated: str = ""
    messages: int = 0


@dataclasses.dataclass
class ViewedMessage:
    id: int = 0
    role: str = "user"
    content: str = ""
    status: str = ""
    time: str = ""


@dataclasses.dataclass
class UsageRow:
    key: str = ""
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    errors: int = 0
    avg_latency_ms: int = 0


@dataclasses.dataclass
class Gauge:
    """The rate limiter's current one-minute window."""

    rpm_used: int = 0
    rpm_limit: int = 0
    rpm_remaining: int = 0
    rpm_percent: int = 0
    tpm_used: int = 0
    tpm_limit: int = 0
    tpm_remaining: int = 0
    tpm_percent: int = 0
    waiting: int = 0
    wait_seconds: str = "0.0"
    backend: str = "memory"
    taken_at: str = ""


@dataclasses.dataclass
class GaugeUser:
    username: str = ""
    requests: int = 0
    tokens: int = 0


@dataclasses.dataclass
class LogLine:
    time: str = ""
    level: str = ""
    logger: str = ""
    message: str = ""


@dataclasses.dataclass
class BackupRow:
    name: str = ""
    size: str = ""
    modified: str = ""


@dataclasses.dataclass
class SettingRow:
    key: str = ""
    value: str = ""


@dataclasses.dataclass
class SettingsSection:
    name: str = ""
    rows: list[SettingRow] = dataclasses.field(default_factory=list)


# --- helpers without state --------------------------------------------------------------------


def local_time(when: datetime | None) -> str:
    """'YYYY-MM-DD HH:MM' in the server's time zone; SQLite gives naive UTC datetimes back."""
    if when is None:
        return NOT_SET
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def size_label(size: int) -> str:
    """Bytes for humans: 812 B, 40.0 KB, 3.2 MB."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def server_utc_offset_minutes() -> int:
    """The server's offset from UTC now (+540 in Korea): usage days follow the server's calendar."""
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or NOT_SET
    if value is None or value == "":
        return NOT_SET
    return str(value)


def settings_sections(masked: dict[str, dict[str, Any]]) -> list[SettingsSection]:
    """Settings.masked() as one table per section, for the Settings tab."""
    return [
        SettingsSection(name=section, rows=[SettingRow(key=k, value=setting_text(v)) for k, v in values.items()])
        for section, values in masked.items()
    ]


def day_chart(rows: list[dict[str, Any]], days: int, today: datetime | None = None) -> list[dict[str, Any]]:
    """One point per day of the last `days` days, oldest first, days without use at zero."""
    by_day = {str(r["key"]): r for r in rows}
    today = today or datetime.now().astimezone()
    points = []
    for back in range(days - 1, -1, -1):
        day = (today - timedelta(days=back)).strftime("%Y-%m-%d")
        row = by_day.get(day, {})
        points.append({"day": day[5:], "requests": int(row.get("requests", 0)), "errors": int(row.get("errors", 0))})
    return points


def usage_rows(rows: list[dict[str, Any]]) -> list[UsageRow]:
    return [
        UsageRow(
            key=str(r["key"] or NOT_SET),
            requests=r["requests"],
            tokens_in=r["tokens_in"],
            tokens_out=r["tokens_out"],
            errors=r["errors"],
            avg_latency_ms=r["avg_latency_ms"],
        )
        for r in rows
    ]


def percent(used: int, limit: int) -> int:
    return min(100, round(used * 100 / limit)) if limit > 0 else 0


# --- the state --------------------------------------------------------------------------------


class AdminState(AuthState):
    tab: str = "users"
    notice: str = ""  # the result of the last action (role status)
    error: str = ""  # why the last action was refused or failed (role alert)
    busy: bool = False

    # wrong invite keys across the site in the last hour, once past the budget (0: nothing to say)
    invite_key_guesses: int = 0
    # users
    user_query: str = ""
    users: list[UserRow] = []
    reset_user_id: int = 0
    reset_username: str = ""
    reset_error: str = ""
    generated_password: str = ""
    email_user_id: int = 0
    email_username: str = ""
    email_current: str = ""
    email_error: str = ""
    delete_user_id: int = 0
    delete_username: str = ""
    delete_summary: str = ""

    # conversations
    user_options: list[UserOption] = []
    conv_user: str = ""  # a user id, or "" for every user
    conv_query: str = ""
    conversations: list[ConversationRow] = []
    view_id: int = 0
    view_title: str = ""
    view_username: str = ""
    view_messages: list[ViewedMessage] = []
    conv_delete_id: int = 0
    conv_delete_title: str = ""

    # usage
    usage_by_user: list[UsageRow] = []
    usage_by_agent: list[UsageRow] = []
    usage_by_day: list[UsageRow] = []
    usage_chart: list[dict[str, Any]] = []
    gauge: Gauge = Gauge()
    gauge_users: list[GaugeUser] = []

    # logs
    log_level: str = "INFO"
    log_lines: list[LogLine] = []
    log_file: str = ""

    # maintenance
    database: str = ""
    backups: list[BackupRow] = []
    backup_result: str = ""
    check_result: str = ""
    check_ok: bool = True
    optimize_result: str = ""
    cleanup_days: str = "90"
    preview_days: int = 0
    preview_conversations: int = 0
    preview_messages: int = 0
    preview_result: str = ""
    cleanup_confirm: bool = False
    cleanup_result: str = ""

    # settings
    settings_sections: list[SettingsSection] = []

    _lang: str = "en"

    @rx.var
    def cleanup_ready(self) -> bool:
        """Deleting is offered only after a preview for the same number of days found something."""
        return (
            self.preview_days > 0
            and self.preview_conversations > 0
            and self.cleanup_days.strip() == str(self.preview_days)
        )

    # --- authorization --------------------------------------------------------------------------

    async def _admin(self) -> User | None:
        """The signed-in user if they are an active administrator (checked in the database), else None."""
        user = await self._current_user()
        if user is None or not user.is_admin:
            return None
        self._lang = (await self.get_state(UIState)).lang
        return user

    def _refuse(self, action: str) -> EventSpec:
        """Clear every admin datum this browser holds and send it away: /login, or /chat for non-admins."""
        signed_in = bool(self.username)
        if signed_in:
            log.warning("admin action %s refused for %s, who is not an administrator", action, self.username)
        else:
            log.info("admin action %s refused for a signed-out visitor", action)
        self.reset()
        return rx.redirect(HOME_ROUTE if signed_in else LOGIN_ROUTE)

    def _t(self, key: str, **values: object) -> str:
        return i18n.t(key, self._lang, **values)

    def _say(self, notice: str = "", error: str = "") -> None:
        self.notice, self.error = notice, error

    # --- page and tabs --------------------------------------------------------------------------

    @rx.event
    async def load_page(self):
        """on_load of /admin: signed-out visitors go to /login, users who are not admins to /chat."""
        if await self._admin() is None:
            return self._refuse("open /admin")
        self._say()
        self.invite_key_guesses = await auth_service.wrong_invite_keys_last_hour()
        await self._load_tab(self.tab if self.tab in TABS else "users")

    @rx.event
    async def select_tab(self, tab: str):
        if await self._admin() is None:
            return self._refuse("select_tab")
        if tab not in TABS:
            return
        self.tab = tab
        self._say()
        await self._load_tab(tab)

    async def _load_tab(self, tab: str) -> None:
        loaders = {
            "users": self._load_users,
            "conversations": self._load_conversations_tab,
            "usage": self._load_usage,
            "logs": self._load_logs,
            "maintenance": self._load_maintenance,
            "settings": self._load_settings,
        }
        await loaders[tab]()

    # --- users ----------------------------------------------------------------------------------

    async def _load_users(self) -> None:
        found = await run_db(users_repo.list_users, query=self.user_query)
        self.users = [
            UserRow(
                id=u.id or 0,
                username=u.username,
                email=u.email,
                is_admin=u.is_admin,
                is_active=u.is_active,
                created=local_time(u.created_at),
                last_login=local_time(u.last_login_at),
            )
            for u in found
        ]

    @rx.event
    async def set_user_query(self, query: str):
        if await self._admin() is None:
            return self._refuse("set_user_query")
        self.user_query = query[:100]
        await self._load_users()

    @rx.event
    async def create_user(self, form: dict):
        admin = await self._admin()
        if admin is None:
            return self._refuse("create_user")
        settings = get_settings()
        username = users_repo.normalize_username(str(form.get("username", "")))
        email = users_repo.normalize_email(str(form.get("email", "")))
        password = str(form.get("password", ""))
        make_admin = str(form.get("is_admin", "")).lower() in ("on", "true", "1", "yes")
        if not (username and email and password):
            self._say(error=self._t("fill_all_fields"))
            return
        # The domain allow-list is for self sign-up; an administrator may add anyone.
        problem = (
            auth_service.username_problem(username)
            or auth_service.email_problem(email, ())
            or auth_service.password_problem(password)
        )
        if problem:
            self._say(error=self._t(problem, domains=", ".join(settings.auth.allowed_email_domains)))
            return
        password_hash = await auth_service.run_hashing(auth_service.hash_password, password)
        try:
            await run_db(
                users_repo.create_user,
                username=username,
                email=email,
                password_hash=password_hash,
                is_admin=make_admin,
                must_change_password=True,  # the admin knows it: it works once
            )
        except users_repo.DuplicateUser as exc:
            self._say(error=self._t("username_taken" if exc.field == "username" else "email_taken"))
            return
        log.warning("admin %s created user %s%s", admin.username, username, " (admin)" if make_admin else "")
        self._say(notice=self._t("admin_user_created", username=username))
        await self._load_users()
        return [rx.set_value(field_id, "") for field_id in CREATE_FORM_FIELDS]

    async def _target(self, admin: User, user_id: int, refuse_self_key: str = "") -> User | None:
        """The user an action is about; None (with the reason shown) when missing or, if asked, the admin."""
        user = await run_db(users_repo.get_user, user_id=int(user_id))
        if user is None:
            self._say(error=self._t("admin_user_missing"))
            await self._load_users()
            return None
        if refuse_self_key and user.id == admin.id:
            self._say(error=self._t(refuse_self_key))
            return None
        return user

    @rx.event
    async def disable_user(self, user_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("disable_user")
        user = await self._target(admin, user_id, "admin_cannot_disable_self")
        if user is None:
            return
        # set_active(False) also deletes the user's sessions: their next click lands on /login.
        await run_db(users_repo.set_active, user_id=user.id, active=False)
        log.warning("admin %s disabled user %s", admin.username, user.username)
        self._say(notice=self._t("admin_user_disabled", username=user.username))
        await self._load_users()

    @rx.event
    async def enable_user(self, user_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("enable_user")
        user = await self._target(admin, user_id)
        if user is None:
            return
        await run_db(users_repo.set_active, user_id=user.id, active=True)
        log.warning("admin %s enabled user %s", admin.username, user.username)
        self._say(notice=self._t("admin_user_enabled", username=user.username))
        await self._load_users()

    @rx.event
    async def make_admin(self, user_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("make_admin")
        user = await self._target(admin, user_id)
        if user is None:
            return
        await run_db(users_repo.set_admin, user_id=user.id, admin=True)
        log.warning("admin %s made %s an administrator", admin.username, user.username)
        self._say(notice=self._t("admin_user_promoted", username=user.username))
        await self._load_users()

    @rx.event
    async def remove_admin(self, user_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("remove_admin")
        # Refusing oneself also means there is always an administrator left: the one acting.
        user = await self._target(admin, user_id, "admin_cannot_demote_self")
        if user is None:
            return
        # set_admin(False) ends the user's sessions, so an open admin page cannot act any more.
        await run_db(users_repo.set_admin, user_id=user.id, admin=False)
        log.warning("admin %s removed administrator rights from %s", admin.username, user.username)
        self._say(notice=self._t("admin_user_demoted", username=user.username))
        await self._load_users()

    # reset password

    @rx.event
    async def open_reset(self, user_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("open_reset")
        user = await self._target(admin, user_id)
        if user is None:
            return
        self.reset_user_id = user.id or 0
        self.reset_username = user.username
        self.reset_error = ""
        self.generated_password = ""

    @rx.event
    async def close_reset(self):
        if await self._admin() is None:
            return self._refuse("close_reset")
        self.reset_user_id = 0
        self.reset_username = ""
        self.reset_error = ""
        self.generated_password = ""

    @rx.event
    async def set_password(self, form: dict):
        """Set the password the administrator typed."""
        admin = await self._admin()
        if admin is None:
            return self._refuse("set_password")
        password = str(form.get("new_password", ""))
        problem = auth_service.password_problem(password)
        if problem:
            self.reset_error = self._t(problem)
            return
        if await self._store_password(admin, password):
            self._say(notice=self._t("admin_password_set", username=self.reset_username))
            self.reset_user_id = 0
            self.reset_username = ""

    @rx.event
    async def generate_password(self):
        """Set a random password and show it once, for the administrator to pass on."""
        admin = await self._admin()
        if admin is None:
            return self._refuse("generate_password")
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        if await self._store_password(admin, password):
            self.generated_password = password

    async def _store_password(self, admin: User, password: str) -> bool:
        user = await self._target(admin, self.reset_user_id)
        if user is None:
            self.reset_user_id = 0
            return False
        password_hash = await auth_service.run_hashing(auth_service.hash_password, password)

        def store(*, session: Session) -> int:
            # A password chosen for someone else works once: they choose their own at the next sign-in.
            users_repo.set_password_hash(
                session=session, user_id=user.id, password_hash=password_hash, must_change=user.id != admin.id
            )
            # Whoever signed in with the old password must sign in again; an admin resetting their
            # own password keeps the session they are using.
            if user.id == admin.id:
                return 0
            return users_repo.end_user_sessions(session=session, user_id=user.id)

        ended = await run_db(store)
        log.warning("admin %s reset the password of %s (%d sessions ended)", admin.username, user.username, ended)
        self.reset_error = ""
        return True

    # email: what FabriX is told about who asks (sign-up does not verify it, so an admin may fix it)

    @rx.event
    async def open_email(self, user_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("open_email")
        user = await self._target(admin, user_id)
        if user is None:
            return
        self.email_user_id, self.email_username, self.email_current = user.id or 0, user.username, user.email
        self.email_error = ""

    @rx.event
    async def close_email(self):
        if await self._admin() is None:
            return self._refuse("close_email")
        self.email_user_id, self.email_username, self.email_current, self.email_error = 0, "", "", ""

    @rx.event
    async def save_email(self, form: dict):
        admin = await self._admin()
        if admin is None:
            return self._refuse("save_email")
        user = await self._target(admin, self.email_user_id) if self.email_user_id else None
        if user is None:
            self.email_user_id = 0
            return
        raw = form.get("email", "") if isinstance(form, dict) else ""
        email = raw.strip().lower() if isinstance(raw, str) else ""
        problem = auth_service.form_problem({"email": email}) or auth_service.email_problem(email, ())
        if problem:
            self.email_error = self._t(problem)
            return
        try:
            await run_db(users_repo.set_email, user_id=user.id, email=email)
        except users_repo.DuplicateUser:
            self.email_error = self._t("email_taken")
            return
        log.warning("admin %s changed the email of %s", admin.username, user.username)
        self._say(notice=self._t("admin_email_changed", username=user.username, email=email))
        self.email_user_id, self.email_username, self.email_current, self.email_error = 0, "", "", ""
        await self._load_users()

    # delete

    @rx.event
    async def ask_delete_user(self, user_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("ask_delete_user")
        user = await self._target(admin, user_id, "admin_cannot_delete_self")
        if user is None:
            return
        conversations, messages = await run_db(users_repo.user_content_counts, user_id=user.id)
        self.delete_user_id = user.id or 0
        self.delete_username = user.username
        self.delete_summary = self._t(
            "admin_delete_user_text", username=user.username, conversations=conversations, messages=messages
        )

    @rx.event
    async def cancel_delete_user(self):
        if await self._admin() is None:
            return self._refuse("cancel_delete_user")
        self.delete_user_id = 0
        self.delete_username = ""
        self.delete_summary = ""

    @rx.event
    async def confirm_delete_user(self):
        admin = await self._admin()
        if admin is None:
            return self._refuse("confirm_delete_user")
        user_id = self.delete_user_id
        self.delete_user_id = 0
        self.delete_summary = ""
        if not user_id:
            return
        user = await self._target(admin, user_id, "admin_cannot_delete_self")
        if user is None:
            return
        conversations, messages = await run_db(users_repo.delete_user, user_id=user.id)
        await asyncio.to_thread(file_service.delete_user_files, user.id)  # and what they uploaded
        log.warning(
            "admin %s deleted user %s with %d conversations and %d messages",
            admin.username,
            user.username,
            conversations,
            messages,
        )
        self._say(
            notice=self._t("admin_user_deleted", username=user.username, conversations=conversations, messages=messages)
        )
        await self._load_users()

    # --- conversations --------------------------------------------------------------------------

    async def _load_conversations_tab(self) -> None:
        everyone = await run_db(users_repo.list_users)
        self.user_options = [UserOption(id=str(u.id), username=u.username) for u in everyone]
        await self._load_conversations()

    async def _load_conversations(self) -> None:
        user_id = int(self.conv_user) if self.conv_user.isdigit() else None
        found = await run_db(admin_conversations, user_id=user_id, query=self.conv_query)
        self.conversations = [
            ConversationRow(
                id=c.id or 0,
                title=c.title or self._t("new_chat"),
                username=username,
                updated=local_time(c.updated_at),
                messages=count,
            )
            for c, username, count in found
        ]

    @rx.event
    async def set_conv_user(self, value: str):
        if await self._admin() is None:
            return self._refuse("set_conv_user")
        self.conv_user = value if value.isdigit() else ""
        self.view_id = 0
        await self._load_conversations()

    @rx.event
    async def set_conv_query(self, query: str):
        if await self._admin() is None:
            return self._refuse("set_conv_query")
        self.conv_query = query[:200]
        await self._load_conversations()

    @rx.event
    async def open_conversation(self, conversation_id: int):
        admin = await self._admin()
        if admin is None:
            return self._refuse("open_conversation")
        found = await run_db(admin_open_conversation, conversation_id=int(conversation_id))
        if found is None:
            self._say(error=self._t("conversation_not_found"))
            self.view_id = 0
            await self._load_conversations()
            return
        conversation, owner, messages = found
        log.info("admin %s opened conversation %s of %s", admin.username, conversation.id, owner)
        self.view_id = conversation.id or 0
        self.view_title = conversation.title or self._t("new_chat")
        self.view_username = owner
        self.view_messages = [
            ViewedMessage(
                id=m.id or 0,
                role=m.role,
                content=m.content,
                status="" if m.status == "complete" else m.status,
                time=local_time(m.created_at),
            )
            for m in messages
        ]

    @rx.event
    async def close_conversation(self):
        if await self._admin() is None:
            return self._refuse("close_conversation")
        self.view_id = 0
        self.view_title = ""
        self.view_username = ""
        self.view_messages = []

    @rx.event
    async def ask_delete_conversation(self, conversation_id: int):
        if await self._admin() is None:
            return self._refuse("ask_delete_conversation")
        row = next((c for c in self.conversations if c.id == int(conversation_id)), None)
        if row is None and self.view_id == int(conversation_id):
            row = ConversationRow(id=self.view_id, title=self.view_title)
        if row is None:
            return
        self.conv_delete_id = row.id
        self.conv_delete_title = row.title

    @rx.event
    async def cancel_delete_conversation(self):
        if await self._admin() is None:
            return self._refuse("cancel_delete_conversation")
        self.conv_delete_id = 0
        self.conv_delete_title = ""

    @rx.event
    async def confirm_delete_conversation(self):
        admin = await self._admin()
        if admin is None:
            return self._refuse("confirm_delete_conversation")
        conversation_id, title = self.conv_delete_id, self.conv_delete_title
        self.conv_delete_id = 0
        self.conv_delete_title = ""
        if not conversation_id:
            return
        deleted = await run_db(admin_delete_conversation, conversation_id=conversation_id)
        if deleted:
            log.warning("admin %s deleted conversation %s", admin.username, conversation_id)
            self._say(notice=self._t("admin_conversation_deleted", title=title))
        else:
            self._say(error=self._t("conversation_not_found"))
        if self.view_id == conversation_id:
            self.view_id = 0
            self.view_messages = []
        await self._load_conversations()

    # --- usage ----------------------------------------------------------------------------------

    async def _load_usage(self) -> None:
        offset = server_utc_offset_minutes()
        by_user = await run_db(usage_repo.usage_totals, group_by="user", days=USAGE_DAYS, tz_offset_minutes=offset)
        by_agent = await run_db(usage_repo.usage_totals, group_by="agent", days=USAGE_DAYS, tz_offset_minutes=offset)
        by_day = await run_db(usage_repo.usage_totals, group_by="day", days=USAGE_DAYS, tz_offset_minutes=offset)
        self.usage_by_user = usage_rows(by_user)
        self.usage_by_agent = usage_rows(by_agent)
        self.usage_by_day = usage_rows(list(reversed(by_day)))
        self.usage_chart = day_chart(by_day, USAGE_DAYS)
        await self._load_gauge()

    async def _load_gauge(self) -> None:
        snap = await chat_service.get_limiter().snapshot()
        self.gauge = Gauge(
            rpm_used=snap.rpm_used,
            rpm_limit=snap.rpm_limit,
            rpm_remaining=snap.rpm_remaining,
            rpm_percent=percent(snap.rpm_used, snap.rpm_limit),
            tpm_used=snap.tpm_used,
            tpm_limit=snap.tpm_limit,
            tpm_remaining=snap.tpm_remaining,
            tpm_percent=percent(snap.tpm_used, snap.tpm_limit),
            waiting=snap.waiting,
            wait_seconds=f"{snap.current_wait_seconds:.1f}",
            backend=snap.backend,
            taken_at=datetime.now().strftime("%H:%M:%S"),
        )
        self.gauge_users = [
            GaugeUser(username=name, requests=figures.get("requests", 0), tokens=figures.get("tokens", 0))
            for name, figures in sorted(snap.per_user.items())
        ]

    @rx.event
    async def refresh_usage(self):
        if await self._admin() is None:
            return self._refuse("refresh_usage")
        await self._load_usage()

    # --- logs -----------------------------------------------------------------------------------

    async def _load_logs(self) -> None:
        settings = get_settings()
        records = await asyncio.to_thread(read_log_tail, settings, LOG_LINES, self.log_level)
        # Newest first: what an operator looks for is at the top.
        self.log_lines = [LogLine(**r) for r in reversed(records)]
        self.log_file = str(log_file_path(settings))

    @rx.event
    async def set_log_level(self, level: str):
        if await self._admin() is None:
            return self._refuse("set_log_level")
        if level in LOG_LEVELS:
            self.log_level = level
        await self._load_logs()

    @rx.event
    async def refresh_logs(self):
        if await self._admin() is None:
            return self._refuse("refresh_logs")
        await self._load_logs()

    # --- maintenance ----------------------------------------------------------------------------

    async def _load_maintenance(self) -> None:
        settings = get_settings()
        self.database = maintenance.describe_database(settings)
        found = await asyncio.to_thread(maintenance.list_backups, settings)
        self.backups = [
            BackupRow(name=b["name"], size=size_label(b["size"]), modified=b["modified"].strftime("%Y-%m-%d %H:%M"))
            for b in found[:20]
        ]

    @rx.event
    async def back_up_now(self):
        admin = await self._admin()
        if admin is None:
            yield self._refuse("back_up_now")
            return
        self.busy, self.backup_result = True, self._t("admin_working")
        yield
        try:
            path = await asyncio.to_thread(maintenance.backup, get_settings())
        except maintenance.MaintenanceError as exc:
            self.backup_result = ""
            self._say(error=str(exc))
        else:
            log.warning("admin %s made a backup: %s", admin.username, path.name)
            self.backup_result = self._t("admin_backup_done", name=path.name, size=size_label(path.stat().st_size))
            await self._load_maintenance()
        finally:
            self.busy = False

    @rx.event
    async def check_integrity(self):
        admin = await self._admin()
        if admin is None:
            yield self._refuse("check_integrity")
            return
        self.busy, self.check_result = True, self._t("admin_working")
        yield
        try:
            problems = await asyncio.to_thread(maintenance.check, get_settings())
        finally:
            self.busy = False
        self.check_ok = problems == ["ok"]
        self.check_result = (
            self._t("admin_check_ok") if self.check_ok else self._t("admin_check_failed", problems="; ".join(problems))
        )
        log.info("admin %s ran an integrity check: %s", admin.username, "; ".join(problems))

    @rx.event
    async def optimize_database(self):
        admin = await self._admin()
        if admin is None:
            yield self._refuse("optimize_database")
            return
        self.busy, self.optimize_result = True, self._t("admin_working")
        yield
        try:
            result = await asyncio.to_thread(maintenance.optimize, get_settings())
        except maintenance.MaintenanceError as exc:
            self.optimize_result = ""
            self._say(error=str(exc))
        else:
            log.warning("admin %s optimized the database", admin.username)
            self.optimize_result = self._t(
                "admin_optimize_done",
                before=size_label(result["size_before"]),
                after=size_label(result["size_after"]),
                seconds=result["seconds"],
            )
        finally:
            self.busy = False

    def _parse_days(self) -> int | None:
        text = self.cleanup_days.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_CLEANUP_DAYS:
            self._say(error=self._t("admin_cleanup_days_invalid", limit=MAX_CLEANUP_DAYS))
            return None
        return int(text)

    @rx.event
    async def set_cleanup_days(self, value: str):
        if await self._admin() is None:
            return self._refuse("set_cleanup_days")
        self.cleanup_days = str(value)[:6]

    @rx.event
    async def preview_cleanup(self, form: dict):
        """Count what deleting conversations older than form["days"] days would remove."""
        if await self._admin() is None:
            return self._refuse("preview_cleanup")
        self.cleanup_days = str(form.get("days", self.cleanup_days))[:6]
        days = self._parse_days()
        if days is None:
            self.preview_days = 0
            return
        result = await run_db(maintenance.cleanup, days=days, dry_run=True)
        self.preview_days = days
        self.preview_conversations = result["conversations"]
        self.preview_messages = result["messages"]
        self.preview_result = self._t(
            "admin_cleanup_preview", conversations=result["conversations"], messages=result["messages"], days=days
        )
        self.cleanup_result = ""
        self._say()

    @rx.event
    async def ask_cleanup(self):
        if await self._admin() is None:
            return self._refuse("ask_cleanup")
        if not self.cleanup_ready:
            self._say(error=self._t("admin_cleanup_preview_first"))
            return
        self.cleanup_confirm = True

    @rx.event
    async def cancel_cleanup(self):
        if await self._admin() is None:
            return self._refuse("cancel_cleanup")
        self.cleanup_confirm = False

    @rx.event
    async def confirm_cleanup(self):
        admin = await self._admin()
        if admin is None:
            return self._refuse("confirm_cleanup")
        self.cleanup_confirm = False
        # The preview must still be for the number in the field: the dialog promised those days.
        if not self.cleanup_ready:
            self._say(error=self._t("admin_cleanup_preview_first"))
            return
        days = self.preview_days
        result = await run_db(maintenance.cleanup, days=days, dry_run=False)
        log.warning(
            "admin %s deleted %d conversations and %d messages older than %d days",
            admin.username,
            result["conversations"],
            result["messages"],
            days,
        )
        self.cleanup_result = self._t(
            "admin_cleanup_done", conversations=result["conversations"], messages=result["messages"], days=days
        )
        self.preview_days = 0
        self.preview_conversations = 0
        self.preview_messages = 0
        self.preview_result = ""

    # --- settings -------------------------------------------------------------------------------

    async def _load_settings(self) -> None:
        self.settings_sections = settings_sections(get_settings().masked())
