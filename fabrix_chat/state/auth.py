"""Who is signed in: the session cookie, log-in, sign-up and log-out.

The browser holds a random token in an HttpOnly session cookie (no max-age, so it is gone when
the browser closes) that no script can read; the server stores only its SHA-256, so a session
can be revoked and ends after `session_idle_minutes` without activity. Passwords, password
hashes and token hashes never become state vars: only the vars below are sent to the browser.
"""

from __future__ import annotations

import json
import logging
import math
import time

import reflex as rx

from fabrix_chat import i18n, web
from fabrix_chat.config import get_settings, secret_key
from fabrix_chat.db import run_db
from fabrix_chat.models import User
from fabrix_chat.repo import invitations as invitations_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import accounts, audit, directory
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services.audit import Action
from fabrix_chat.state.ui import UIState

log = logging.getLogger(__name__)

LOGIN_ROUTE = "/login"
HOME_ROUTE = "/chat"
SIGNUP_FIELDS = ("username", "email", "password", "confirm_password", "invite_key")


def field(form: dict, name: str, *, strip: bool = True) -> str:
    """One form field as text (a missing or non-text value is empty)."""
    value = form.get(name, "") if isinstance(form, dict) else ""
    value = value if isinstance(value, str) else ""
    return value.strip() if strip else value


def go_to(route: str) -> rx.event.EventSpec:
    """A full page load of one of web.py's HTTP routes (not a page of the app: a new websocket
    follows), on the back end's origin."""
    return rx.call_script(f"window.location.replace({json.dumps(web.route_url(route))})")


async def _reset_tree(state: rx.State) -> None:
    """Reset a state and its substates, letting each first end what it runs (`_before_reset`)."""
    pending = [state]
    while pending:
        current = pending.pop()
        pending.extend(current.substates.values())
        before = getattr(current, "_before_reset", None)
        if before is not None:
            await before()
    state.reset()


class AuthState(rx.State):
    """Who is signed in on this tab. The session token never reaches the state: the websocket
    middleware (web.py) turns the HttpOnly cookie into a reference, its hash, in a header that
    Reflex keeps on the server, and every check asks the database about that reference."""

    username: str = ""
    is_admin: bool = False
    # True after a signed-in browser found its session gone (idle, revoked, account disabled):
    # the log-in page then says why the user is there.
    session_ended: bool = False
    _user_id: int = 0

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.username)

    def _session_hash(self) -> str:
        headers = self.router.headers.raw_headers
        return auth_service.token_hash_from_header(headers.get(auth_service.SESSION_HEADER, ""))

    async def _current_user(self) -> User | None:
        """The signed-in, active user of this browser, checked against the database every time.
        When the user is gone or another one has signed in, everything the tab held is reset."""
        token_hash = self._session_hash()
        user = None
        if token_hash:
            settings = get_settings()
            user = await run_db(
                users_repo.get_session_user, token_hash=token_hash, idle_minutes=settings.auth.session_idle_minutes
            )
        if user is None:
            had_user = bool(self._user_id or self.username)
            if had_user:
                await self._reset_tab()
            self._forget()
            self.session_ended = had_user or bool(token_hash)
            return None
        if self._user_id and self._user_id != user.id:
            log.info("another user signed in on this tab: its state is reset")
            await self._reset_tab()
        # Only what changed: an assignment marks the state changed (sent again, written to Redis).
        if (self._user_id, self.username, self.is_admin) != (user.id or 0, user.username, user.is_admin):
            self._user_id, self.username, self.is_admin = user.id or 0, user.username, user.is_admin
        return user

    def _forget(self) -> None:
        self.username = ""
        self.is_admin = False
        self._user_id = 0

    async def _reset_tab(self) -> None:
        """Every var of every state of this tab back to its default (root's own flags and the UI
        preferences excepted), so nothing of the previous user (conversations, an unsent file, a
        one-time password shown to an admin) stays in what the page holds."""
        root = self
        while root.parent_state is not None:
            root = root.parent_state
        pending = list(type(root).get_substates())
        while pending:
            state_class = pending.pop()
            await self.get_state(state_class)  # load it (Reflex loads substates lazily from Redis)
            pending.extend(state_class.get_substates())
        for substate in root.substates.values():
            if substate.get_name() != UIState.get_name():  # the tab's language and layout are not the user's
                await _reset_tree(substate)

    async def _start_session(self, user: User) -> rx.event.EventSpec:
        """Create the session with a placeholder and send the browser to swap its one-time ticket
        for the HttpOnly cookie (/auth/session); the page then loads afresh, signed in."""
        key = secret_key(get_settings())
        client = self.router.session.client_ip or ""
        nonce, placeholder = auth_service.new_ticket_nonce()
        row = await run_db(users_repo.create_session, user_id=user.id, token_hash=placeholder, client=client)
        self.session_ended = False
        ticket = auth_service.sign_login_ticket(key, row.id, nonce)
        back = web.return_path(self.router.url.query_parameters.get("next"))  # /login?next=/shared/…
        return go_to(f"/auth/session?ticket={ticket}" + (f"&next={back}" if back != HOME_ROUTE else ""))

    @rx.event
    async def require_login(self):
        """on_load of every signed-in page: a signed-out visitor lands on /login."""
        if await self._current_user() is None:
            return rx.redirect(LOGIN_ROUTE)

    @rx.event
    async def redirect_if_signed_in(self):
        """on_load of /login and /signup: a signed-in user goes straight to the chat.

        A fresh visit starts with a clean form: the error of an earlier attempt is cleared
        (the "session ended" notice stays: it says why the user is here).
        """
        if self._session_hash() and await self._current_user() is not None:
            return rx.redirect(web.return_path(self.router.url.query_parameters.get("next")))
        login = await self.get_state(LoginState)
        login.login_error = ""
        login.must_change_password, login._change_user_id = False, 0
        signup = await self.get_state(SignupState)
        signup.signup_error = ""
        settings = get_settings()
        signup.signup_open = not settings.ldap.enabled and (
            _shared_key(settings) != "" or await run_db(invitations_repo.any_open)
        )
        if self.router.url.query_parameters.get("signin") == "expired":
            login.login_error = i18n.t("signin_expired", (await self.get_state(UIState)).lang)

    @rx.event
    async def log_out(self):
        """End the session in the database and in this browser at once (no confirmation)."""
        token_hash = self._session_hash()
        if token_hash:
            await run_db(users_repo.end_session, token_hash=token_hash)
        await self._reset_tab()
        return go_to("/auth/logout")  # removes the HttpOnly cookie, which no script can


def _shared_key(settings) -> str:
    """The shared invite key sign-up accepts ("" when there is none, or it is turned off)."""
    return settings.auth.admin_signup_key if settings.auth.shared_key_signup else ""


CHANGE_PASSWORD_SECONDS = 600


class LoginState(AuthState):
    login_error: str = ""
    # After a correct password that someone else chose (an admin's reset, an import): the form
    # asks for the user's own before the session starts. Who, and until when, stays server-side.
    must_change_password: bool = False
    _change_user_id: int = 0
    _change_until: float = 0.0
    _change_from: str = ""  # a digest of the hash of the given password, never the hash itself

    @rx.event
    async def log_in(self, form: dict):
        """Check the username and password (with the directory when [ldap] is set, for directory
        accounts and unknown names: services/directory.py); attempts are counted before the check and
        slowed per username and per client, and over-long fields are refused before anything else happens."""
        username, password = field(form, "username").lower(), field(form, "password", strip=False)
        self.login_error = ""
        self.must_change_password, self._change_user_id = False, 0
        client = self.router.session.client_ip or "unknown"
        problem = auth_service.form_problem({"username": username, "password": password})
        if problem is None and not (username and password):
            problem = "fill_all_fields"
        # The first await: the attempt is counted (and this client's slot taken) before it.
        wait = 0.0 if problem else await auth_service.begin_login(username, client)
        reserved = problem is None and wait == 0  # then finish_login must follow
        succeeded, user, refusal, changes = False, None, None, None
        try:
            lang = (await self.get_state(UIState)).lang
            if problem:
                self.login_error = i18n.t(problem, lang)
                return
            if wait == auth_service.LOGIN_BUSY:
                self.login_error = i18n.t("login_busy", lang)
                return
            if wait > 0:
                # Refused before the password is even checked, and not counted as another attempt.
                self.login_error = i18n.t("login_slow_down", lang, seconds=math.ceil(wait))
                return
            user = await run_db(users_repo.get_user_by_username, username=username)
            ldap = get_settings().ldap
            if ldap.enabled and (user is None or user.auth_source == accounts.DIRECTORY):
                # Unknown names and directory accounts are the directory's to check, never a local
                # password's; local accounts (the one `manage create-admin` made) keep their own.
                try:
                    user, changes = await directory.sign_in(ldap, username, password) or (None, None)
                except directory.DirectoryError as exc:
                    refusal, user = exc, None
                # A refusal after the directory accepted the password counts as a right password.
                succeeded = user is not None or (
                    refusal is not None and not isinstance(refusal, directory.DirectoryUnavailable)
                )
            else:
                local_hash = user.password_hash if user and user.auth_source == accounts.LOCAL else None
                ok = await auth_service.run_hashing(auth_service.verify_password, password, local_hash)
                succeeded = ok and user is not None
        finally:
            if reserved:
                await auth_service.finish_login(username, client, succeeded=succeeded)
        if refusal is not None:
            log.info("directory log-in for %r from %s refused: %s", username, client, refusal.detail)
            await audit.note(Action.SIGN_IN_FAILED, target=username, client=client, detail=refusal.detail)
            self.login_error = i18n.error_text(refusal, lang)
            return
        if not succeeded or user is None:
            log.info("failed log-in for %r from %s", username, client)
            await audit.note(Action.SIGN_IN_FAILED, target=username, client=client, detail="wrong username or password")
            self.login_error = i18n.t("bad_credentials", lang)
            return
        if not user.is_active:
            # Said only to someone who knows the password, so it reveals nothing to a guesser.
            log.info("log-in refused for disabled user %s", user.username)
            await audit.note(Action.SIGN_IN_FAILED, target=user.username, client=client, detail="account disabled")
            self.login_error = i18n.t("account_disabled", lang)
            return
        if user.must_change_password:
            self.must_change_password = True
            self._change_user_id = user.id or 0
            self._change_until = time.time() + CHANGE_PASSWORD_SECONDS
            self._change_from = auth_service.hash_token(user.password_hash)  # which given password
            log.info("user %s signed in with a password chosen for them: asked for their own", user.username)
            return
        log.info("user %s logged in%s", user.username, " with the directory" if changes is not None else "")
        detail = "; ".join(["with the directory", *changes]) if changes is not None else ""
        await audit.note(Action.SIGN_IN, actor=user.username, client=client, detail=detail)
        return await self._start_session(user)

    @rx.event
    async def set_own_password(self, form: dict):
        """The user's own password, after signing in with one chosen for them; then sign in. It
        replaces exactly the given password, once: if that was changed meanwhile (by its owner
        in another tab, or a new reset), this form has expired."""
        lang = (await self.get_state(UIState)).lang
        password = field(form, "new_password", strip=False)
        confirm = field(form, "confirm_new_password", strip=False)
        self.login_error = ""
        user_id, given = self._change_user_id, self._change_from
        if not user_id or time.time() > self._change_until:
            self.must_change_password, self._change_user_id = False, 0
            self.login_error = i18n.t("signin_expired", lang)
            return
        problem = auth_service.form_problem({"password": password, "confirm_password": confirm})
        problem = (
            problem or auth_service.password_problem(password) or (None if password == confirm else "password_mismatch")
        )
        user = await run_db(users_repo.get_user, user_id=user_id)
        if user is None or not user.is_active:
            self.must_change_password, self._change_user_id = False, 0
            self.login_error = i18n.t("account_disabled", lang)
            return
        if problem is None and await auth_service.run_hashing(
            auth_service.verify_password, password, user.password_hash
        ):
            problem = "password_not_new"
        if problem:
            self.login_error = i18n.t(problem, lang)
            return
        password_hash = await auth_service.run_hashing(auth_service.hash_password, password)
        replaced = await run_db(
            users_repo.replace_given_password,
            user_id=user_id,
            given_digest=given,
            digest=auth_service.hash_token,
            password_hash=password_hash,
        )
        self.must_change_password, self._change_user_id, self._change_from = False, 0, ""
        if not replaced:
            self.login_error = i18n.t("signin_expired", lang)
            return
        log.info("user %s chose their own password and logged in", user.username)
        client = self.router.session.client_ip or "unknown"
        await audit.note(Action.SIGN_IN, actor=user.username, client=client, detail="chose their own password")
        return await self._start_session(user)


class SignupState(AuthState):
    signup_error: str = ""
    signup_open: bool = True  # False with no usable shared invite key and no open invitation

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
        shared_key = _shared_key(settings)
        if problem is None and settings.ldap.enabled:
            # Directory users sign in with the directory: a name signed up here first would take
            # theirs (a local account keeps its local password), so there is no sign-up at all.
            problem = "signup_directory"
        elif problem is None and not shared_key and not await run_db(invitations_repo.any_open):
            problem = "signup_closed"  # no shared key and no open invitation: nothing can let anyone in
        elif problem is None and not all((username, email, password, confirm, invite)):
            problem = "fill_all_fields"
        wait = 0.0 if problem else await auth_service.begin_signup(client)
        lang = (await self.get_state(UIState)).lang
        if wait > 0:
            self.signup_error = i18n.t("login_slow_down", lang, seconds=math.ceil(wait))
            return
        invitation = None
        if problem is None:
            # The shared key (unless turned off), else a personal invitation's code; a wrong one
            # counts toward the same slow-downs either way.
            key_ok = auth_service.invite_key_matches(invite, shared_key)
            if not key_ok:
                invitation = await run_db(invitations_repo.find_open, code=invite)
                key_ok = invitation is not None
            await auth_service.finish_signup(client, key_was_right=key_ok)
            if not key_ok:
                log.info("sign-up with a wrong invite key from %s", client)
                await audit.note(Action.SIGN_UP_FAILED, target=username, client=client, detail="wrong invite key")
                problem = "invite_key_wrong"
            elif invitation is not None and invitation.email != email:
                problem = "invitation_other_email"
        if problem:
            self.signup_error = i18n.t(problem, lang)
            return
        try:
            # The email of an invitation was chosen by an administrator: the domain list is not asked.
            domains = () if invitation else settings.auth.allowed_email_domains
            username, email = accounts.new_account(username, email, password, allowed_domains=domains)
            if password != confirm:
                raise accounts.AccountError("password_mismatch")
            password_hash = await auth_service.run_hashing(auth_service.hash_password, password)
            if invitation is None:
                user = await run_db(accounts.create, username=username, email=email, password_hash=password_hash)
            else:
                user = await run_db(
                    accounts.create_invited,
                    invitation_id=invitation.id,
                    username=username,
                    email=email,
                    password_hash=password_hash,
                )
        except accounts.AccountError as exc:
            self.signup_error = i18n.error_text(exc, lang)
            return
        log.info("user %s signed up", user.username)
        detail = "with a personal invitation" if invitation else "with the shared invite key"
        await audit.note(Action.SIGN_UP, actor=user.username, client=client, detail=detail)
        return await self._start_session(user)
