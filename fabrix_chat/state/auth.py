"""Who is signed in: the session cookie, log-in, sign-up and log-out.

The browser holds a random token in a session cookie (no max-age, so it is gone when the
browser closes); the server stores only its SHA-256, so a session can be revoked and ends
after `session_idle_minutes` without activity. Passwords, password hashes and token hashes
never become state vars: only the vars below are ever sent to the browser.
"""

from __future__ import annotations

import logging
import math

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.models import User
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.state.ui import UIState

log = logging.getLogger(__name__)

LOGIN_ROUTE = "/login"
SIGNUP_FIELDS = ("username", "email", "password", "confirm_password", "invite_key")


def field(form: dict, name: str, *, strip: bool = True) -> str:
    """One form field as text (a missing or non-text value is empty)."""
    value = form.get(name, "") if isinstance(form, dict) else ""
    value = value if isinstance(value, str) else ""
    return value.strip() if strip else value


HOME_ROUTE = "/chat"


class AuthState(rx.State):
    # No max_age: a session cookie, which the browser drops when it closes.
    auth_token: str = rx.Cookie("", name="fabrix_session", same_site="strict")
    username: str = ""
    is_admin: bool = False
    # True after a signed-in browser found its session gone (idle, revoked, account disabled):
    # the log-in page then says why the user is there.
    session_ended: bool = False
    lang_hint: str = "en"
    _user_id: int = 0

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.username)

    async def current_user(self) -> User | None:
        """The signed-in, active user of this browser, checked against the database every time."""
        if not self.auth_token:
            self._forget()
            return None
        settings = get_settings()
        user = await run_db(
            users_repo.get_session_user,
            token_hash=auth_service.hash_token(self.auth_token),
            idle_minutes=settings.auth.session_idle_minutes,
        )
        if user is None:
            self._forget()
            self.session_ended = True
            return None
        self._user_id = user.id or 0
        self.username = user.username
        self.is_admin = user.is_admin
        return user

    def _forget(self) -> None:
        self.auth_token = ""
        self.username = ""
        self.is_admin = False
        self._user_id = 0

    async def _start_session(self, user: User) -> None:
        token, token_hash = auth_service.new_session_token()
        client = self.router.session.client_ip or ""
        await run_db(users_repo.create_session, user_id=user.id, token_hash=token_hash, client=client)
        self.auth_token = token
        self.session_ended = False
        self._user_id = user.id or 0
        self.username = user.username
        self.is_admin = user.is_admin

    @rx.event
    async def require_login(self):
        """on_load of every signed-in page: a signed-out visitor lands on /login."""
        if await self.current_user() is None:
            return rx.redirect(LOGIN_ROUTE)

    @rx.event
    async def redirect_if_signed_in(self):
        """on_load of /login and /signup: a signed-in user goes straight to the chat.

        A fresh visit starts with a clean form: the error of an earlier attempt is cleared
        (the "session ended" notice stays: it says why the user is here).
        """
        if self.auth_token and await self.current_user() is not None:
            return rx.redirect(HOME_ROUTE)
        (await self.get_state(LoginState)).login_error = ""
        (await self.get_state(SignupState)).signup_error = ""

    @rx.event
    async def log_out(self):
        """End the session in the database and in this browser at once (no confirmation)."""
        if self.auth_token:
            await run_db(users_repo.end_session, token_hash=auth_service.hash_token(self.auth_token))
        self._forget()
        self.reset()
        return rx.redirect(LOGIN_ROUTE)


class LoginState(AuthState):
    login_error: str = ""

    @rx.event
    async def log_in(self, form: dict):
        """Check the username and password; attempts are counted before the check and slowed per
        username and per client, and over-long fields are refused before anything else happens."""
        username, password = field(form, "username").lower(), field(form, "password", strip=False)
        self.login_error = ""
        client = self.router.session.client_ip or "unknown"
        problem = auth_service.form_problem({"username": username, "password": password})
        if problem is None and not (username and password):
            problem = "fill_all_fields"
        # The first await: the attempt is counted (and this client's slot taken) before it.
        wait = 0.0 if problem else await auth_service.begin_login(username, client)
        lang = (await self.get_state(UIState)).lang
        if problem:
            self.login_error = i18n.t(problem, lang)
            return
        if wait > 0:
            # Refused before the password is even checked, and not counted as another attempt.
            self.login_error = i18n.t("login_slow_down", lang, seconds=math.ceil(wait))
            return
        succeeded = False
        try:
            user = await run_db(users_repo.get_user_by_username, username=username)
            ok = await auth_service.run_hashing(
                auth_service.verify_password, password, user.password_hash if user else None
            )
            succeeded = ok and user is not None
        finally:
            await auth_service.finish_login(username, client, succeeded=succeeded)
        if not succeeded or user is None:
            log.info("failed log-in for %r from %s", username, client)
            self.login_error = i18n.t("bad_credentials", lang)
            return
        if not user.is_active:
            # Said only to someone who knows the password, so it reveals nothing to a guesser.
            log.info("log-in refused for disabled user %s", user.username)
            self.login_error = i18n.t("account_disabled", lang)
            return
        await self._start_session(user)
        log.info("user %s logged in", user.username)
        return rx.redirect(HOME_ROUTE)


class SignupState(AuthState):
    signup_error: str = ""

    @rx.event
    async def sign_up(self, form: dict):
        """Create the account (invite key, allowed email domain, unique name and email), then sign in.
        Over-long fields are refused first; each invite-key check is counted before it is made."""
        settings = get_settings()
        values = {name: field(form, name, strip=name not in ("password", "confirm_password")) for name in SIGNUP_FIELDS}
        username, email = values["username"].lower(), values["email"].lower()
        password, confirm, invite = values["password"], values["confirm_password"], values["invite_key"]
        self.signup_error = ""
        client = self.router.session.client_ip or "unknown"
        problem = auth_service.form_problem(values)
        if problem is None and not settings.auth.admin_signup_key:
            problem = "signup_closed"
        elif problem is None and not all((username, email, password, confirm, invite)):
            problem = "fill_all_fields"
        wait = 0.0 if problem else await auth_service.begin_signup(client)
        lang = (await self.get_state(UIState)).lang
        if wait > 0:
            self.signup_error = i18n.t("login_slow_down", lang, seconds=math.ceil(wait))
            return
        if problem is None:
            key_ok = auth_service.invite_key_matches(invite, settings.auth.admin_signup_key)
            await auth_service.finish_signup(client, key_was_right=key_ok)
            if not key_ok:
                log.info("sign-up with a wrong invite key from %s", client)
                problem = "invite_key_wrong"
        if problem is None:
            problem = (
                auth_service.username_problem(username)
                or auth_service.email_problem(email, settings.auth.allowed_email_domains)
                or auth_service.password_problem(password)
                or (None if password == confirm else "password_mismatch")
            )
        if problem:
            domains = ", ".join(settings.auth.allowed_email_domains)
            self.signup_error = (
                i18n.t(problem, lang, domains=domains) if problem == "email_domain" else i18n.t(problem, lang)
            )
            return
        password_hash = await auth_service.run_hashing(auth_service.hash_password, password)
        try:
            user = await run_db(users_repo.create_user, username=username, email=email, password_hash=password_hash)
        except users_repo.DuplicateUser as exc:
            self.signup_error = i18n.t("username_taken" if exc.field == "username" else "email_taken", lang)
            return
        await self._start_session(user)
        log.info("user %s signed up", user.username)
        return rx.redirect(HOME_ROUTE)
