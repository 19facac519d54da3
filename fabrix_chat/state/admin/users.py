"""The Users tab: the list, create, disable/enable, promote/demote, reset password, change
email, delete (components/admin/users.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from typing import ClassVar

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.db import run_db
from fabrix_chat.models import User, record_id
from fabrix_chat.repo import quota as quota_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import accounts, audit
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services import quota as quota_service
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import AdminState, admin_only, local_time

log = logging.getLogger(__name__)

# secrets.token_urlsafe(12) gives 16 characters: easy to pass on, far beyond guessing.
GENERATED_PASSWORD_BYTES = 12
# The create-user form's text fields (element ids), emptied after a user is created.
CREATE_FORM_FIELDS = ("admin-new-username", "admin-new-email", "admin-new-password")


@dataclasses.dataclass
class UserRow:
    id: int = 0
    username: str = ""
    email: str = ""
    is_admin: bool = False
    is_active: bool = True
    created: str = ""
    last_login: str = ""
    question_limit: str = ""  # the user's own daily limits as typed ("": the [quota] default)
    token_limit: str = ""


class AdminUsersState(AdminState):
    TAB: ClassVar[str] = "users"

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
    delete_summary: str = ""
    quotas_on: bool = False  # a [quota] default or a user's own limit: the limit fields are shown
    question_default: str = ""  # the fields' placeholders: "Default (20)"
    token_default: str = ""

    async def _load(self) -> None:
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
                question_limit=_typed(u.daily_question_limit),
                token_limit=_typed(u.daily_token_limit),
            )
            for u in found
        ]
        await self._load_limits()

    @admin_only
    async def set_user_query(self, admin: User, query: str):
        self.user_query = query[:100]
        await self._load()

    @admin_only
    async def create_user(self, admin: User, form: dict):
        username, email = str(form.get("username", "")).strip(), str(form.get("email", "")).strip()
        password = str(form.get("password", ""))
        make_admin = str(form.get("is_admin", "")).lower() in ("on", "true", "1", "yes")
        if not (username and email and password):
            self._say(error=self._t("fill_all_fields"))
            return
        try:
            # The domain allow-list is for self sign-up; an administrator may add anyone.
            username, email = accounts.new_account(username, email, password)
            password_hash = await auth_service.run_hashing(auth_service.hash_password, password)
            await run_db(
                accounts.create,
                username=username,
                email=email,
                password_hash=password_hash,
                is_admin=make_admin,
                chosen_by_other=True,  # the admin knows it
            )
        except accounts.AccountError as exc:
            self._say(error=i18n.error_text(exc, self._lang))
            return
        log.warning("admin %s created user %s%s", admin.username, username, " (admin)" if make_admin else "")
        await audit.note(
            Action.USER_CREATE,
            actor=admin.username,
            target=username,
            client=self._client(),
            detail="administrator" if make_admin else "",
        )
        self._say(notice=self._t("admin_user_created", username=username))
        await self._load()
        return [rx.set_value(field_id, "") for field_id in CREATE_FORM_FIELDS]

    async def _target(self, admin: User, user_id: int, refuse_self_key: str = "") -> User | None:
        """The user an action is about; None (with the reason shown) when missing or, if asked, the admin."""
        user = await run_db(users_repo.get_user, user_id=record_id(user_id))
        if user is None:
            self._say(error=self._t("admin_user_missing"))
            await self._load()
            return None
        if refuse_self_key and user.id == admin.id:
            self._say(error=self._t(refuse_self_key))
            return None
        return user

    @admin_only
    async def disable_user(self, admin: User, user_id: int):
        user = await self._target(admin, user_id, "admin_cannot_disable_self")
        if user is None:
            return
        await run_db(accounts.set_active, user_id=user.id, active=False)
        log.warning("admin %s disabled user %s", admin.username, user.username)
        await audit.note(Action.USER_DISABLE, actor=admin.username, target=user.username, client=self._client())
        self._say(notice=self._t("admin_user_disabled", username=user.username))
        await self._load()

    @admin_only
    async def enable_user(self, admin: User, user_id: int):
        user = await self._target(admin, user_id)
        if user is None:
            return
        await run_db(accounts.set_active, user_id=user.id, active=True)
        log.warning("admin %s enabled user %s", admin.username, user.username)
        await audit.note(Action.USER_ENABLE, actor=admin.username, target=user.username, client=self._client())
        self._say(notice=self._t("admin_user_enabled", username=user.username))
        await self._load()

    @admin_only
    async def make_admin(self, admin: User, user_id: int):
        user = await self._target(admin, user_id)
        if user is None:
            return
        await run_db(accounts.set_admin, user_id=user.id, admin=True)
        log.warning("admin %s made %s an administrator", admin.username, user.username)
        await audit.note(Action.USER_PROMOTE, actor=admin.username, target=user.username, client=self._client())
        self._say(notice=self._t("admin_user_promoted", username=user.username))
        await self._load()

    @admin_only
    async def remove_admin(self, admin: User, user_id: int):
        # Refusing oneself also means there is always an administrator left: the one acting.
        user = await self._target(admin, user_id, "admin_cannot_demote_self")
        if user is None:
            return
        await run_db(accounts.set_admin, user_id=user.id, admin=False)
        log.warning("admin %s removed administrator rights from %s", admin.username, user.username)
        await audit.note(Action.USER_DEMOTE, actor=admin.username, target=user.username, client=self._client())
        self._say(notice=self._t("admin_user_demoted", username=user.username))
        await self._load()

    # --- reset password

    @admin_only
    async def open_reset(self, admin: User, user_id: int):
        user = await self._target(admin, user_id)
        if user is None:
            return
        if user.auth_source == accounts.DIRECTORY:
            self._say(error=self._t("directory_password_elsewhere"))
            return
        self.reset_user_id = user.id or 0
        self.reset_username = user.username
        self.reset_error = ""
        self.generated_password = ""

    @admin_only
    async def close_reset(self, admin: User):
        self.reset_user_id = 0
        self.reset_username = ""
        self.reset_error = ""
        self.generated_password = ""

    @admin_only
    async def set_password(self, admin: User, form: dict):
        """Set the password the administrator typed."""
        password = str(form.get("new_password", ""))
        try:
            accounts.new_password(password)
        except accounts.AccountError as exc:
            self.reset_error = i18n.error_text(exc, self._lang)
            return
        if await self._store_password(admin, password):
            self._say(notice=self._t("admin_password_set", username=self.reset_username))
            self.reset_user_id = 0
            self.reset_username = ""

    @admin_only
    async def generate_password(self, admin: User):
        """Set a random password and show it once, for the administrator to pass on."""
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        if await self._store_password(admin, password):
            self.generated_password = password

    async def _store_password(self, admin: User, password: str) -> bool:
        user = await self._target(admin, self.reset_user_id)
        if user is None:
            self.reset_user_id = 0
            return False
        password_hash = await auth_service.run_hashing(auth_service.hash_password, password)
        own = user.id == admin.id
        try:
            ended = await run_db(
                accounts.set_password,
                user_id=user.id,
                password_hash=password_hash,
                chosen_by_other=not own,
                keep_sessions=own,
            )
        except accounts.AccountError as exc:  # a directory account
            self.reset_error = i18n.error_text(exc, self._lang)
            return False
        log.warning("admin %s reset the password of %s (%d sessions ended)", admin.username, user.username, ended)
        await audit.note(
            Action.PASSWORD_RESET,
            actor=admin.username,
            target=user.username,
            client=self._client(),
            detail=f"{ended} sessions ended",
        )
        self.reset_error = ""
        return True

    # --- email: what FabriX is told about who asks (sign-up does not verify it, so an admin may fix it)

    @admin_only
    async def open_email(self, admin: User, user_id: int):
        user = await self._target(admin, user_id)
        if user is None:
            return
        self.email_user_id, self.email_username, self.email_current = user.id or 0, user.username, user.email
        self.email_error = ""

    @admin_only
    async def close_email(self, admin: User):
        self.email_user_id, self.email_username, self.email_current, self.email_error = 0, "", "", ""

    @admin_only
    async def save_email(self, admin: User, form: dict):
        user = await self._target(admin, self.email_user_id) if self.email_user_id else None
        if user is None:
            self.email_user_id = 0
            return
        raw = form.get("email", "") if isinstance(form, dict) else ""
        try:
            email = await run_db(accounts.set_email, user_id=user.id, email=raw if isinstance(raw, str) else "")
        except accounts.AccountError as exc:
            self.email_error = i18n.error_text(exc, self._lang)
            return
        log.warning("admin %s changed the email of %s", admin.username, user.username)
        await audit.note(Action.USER_EMAIL, actor=admin.username, target=user.username, client=self._client())
        self._say(notice=self._t("admin_email_changed", username=user.username, email=email))
        self.email_user_id, self.email_username, self.email_current, self.email_error = 0, "", "", ""
        await self._load()

    # --- daily limits (services/quota.py): empty is the [quota] default, 0 no limit

    async def _load_limits(self) -> None:
        self.quotas_on = quota_service.quotas_on(any_override=await run_db(quota_repo.any_override))
        default = quota_service.defaults()
        self.question_default = self._t("admin_limit_placeholder", limit=self._limit_words(default.daily_questions))
        self.token_default = self._t("admin_limit_placeholder", limit=self._limit_words(default.daily_tokens))

    def _limit_words(self, limit: int | None, kind: quota_repo.LimitKind = "questions") -> str:
        if limit is None:
            default = quota_service.defaults()
            fallback = default.daily_questions if kind == "questions" else default.daily_tokens
            return self._t("admin_limit_default", limit=self._limit_words(fallback))
        return f"{limit:,}" if limit else self._t("admin_limit_none")

    @admin_only
    async def set_question_limit(self, admin: User, user_id: int, value: str):
        """`Daily question limit` of one user, saved when the field loses focus."""
        await self._save_limit(admin, user_id, "questions", value)

    @admin_only
    async def set_token_limit(self, admin: User, user_id: int, value: str):
        """`Daily token limit` of one user, saved when the field loses focus."""
        await self._save_limit(admin, user_id, "tokens", value)

    async def _save_limit(self, admin: User, user_id: int, kind: quota_repo.LimitKind, value: object) -> None:
        user = await self._target(admin, user_id)
        if user is None:
            return
        try:
            limit = quota_service.parse_limit(value, kind)
        except i18n.KeyedError as exc:
            self._say(error=i18n.error_text(exc, self._lang))
            return
        if limit == (user.daily_question_limit if kind == "questions" else user.daily_token_limit):
            return  # the field lost focus unchanged
        if await run_db(quota_repo.set_limit, user_id=user.id, kind=kind, value=limit) is None:
            self._say(error=self._t("admin_user_missing"))  # deleted meanwhile
            await self._load()
            return
        await quota_service.forget(user.id or 0)
        detail = f"daily {kind} {'default' if limit is None else limit}"
        await audit.note(
            Action.USER_QUOTA, actor=admin.username, target=user.username, client=self._client(), detail=detail
        )
        log.warning("admin %s set the %s of %s", admin.username, detail, user.username)
        key = "admin_question_limit_saved" if kind == "questions" else "admin_token_limit_saved"
        self._say(notice=self._t(key, username=user.username, limit=self._limit_words(limit, kind)))
        await self._load()

    # --- delete

    @admin_only
    async def ask_delete_user(self, admin: User, user_id: int):
        user = await self._target(admin, user_id, "admin_cannot_delete_self")
        if user is None:
            return
        conversations, messages = await run_db(users_repo.user_content_counts, user_id=user.id)
        self.delete_user_id = user.id or 0
        self.delete_summary = self._t(
            "admin_delete_user_text", username=user.username, conversations=conversations, messages=messages
        )

    @admin_only
    async def cancel_delete_user(self, admin: User):
        self.delete_user_id = 0
        self.delete_summary = ""

    @admin_only
    async def confirm_delete_user(self, admin: User):
        user_id = self.delete_user_id
        self.delete_user_id = 0
        self.delete_summary = ""
        if not user_id:
            return
        user = await self._target(admin, user_id, "admin_cannot_delete_self")
        if user is None:
            return
        conversations, messages = await run_db(accounts.delete, user_id=user.id)
        await asyncio.to_thread(accounts.delete_files, user.id)
        log.warning(
            "admin %s deleted user %s with %d conversations and %d messages",
            admin.username,
            user.username,
            conversations,
            messages,
        )
        await audit.note(
            Action.USER_DELETE,
            actor=admin.username,
            target=user.username,
            client=self._client(),
            detail=f"{conversations} conversations, {messages} messages",
        )
        self._say(
            notice=self._t("admin_user_deleted", username=user.username, conversations=conversations, messages=messages)
        )
        await self._load()


def _typed(limit: int | None) -> str:
    """A user's own limit as its field shows it ("" for the default)."""
    return "" if limit is None else str(limit)
