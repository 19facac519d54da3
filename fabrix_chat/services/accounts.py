"""User accounts: the one home of the rules for creating, changing and removing them.

Sign-up (state/auth.py), the admin page (state/admin/users.py) and the command line (manage.py)
all go through these functions. Each runs inside the caller's transaction (`session`, like the
repo functions: `run_db(accounts.create, ...)` or `with session_scope(engine) as session`),
except the slow part, which callers do first and outside it: hashing the password
(`auth.hash_password`, in a worker thread). A refusal is an AccountError naming its i18n key.
"""

from __future__ import annotations

from sqlmodel import Session

from fabrix_chat import i18n
from fabrix_chat.models import User
from fabrix_chat.repo import invitations as invitations_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth
from fabrix_chat.services import files as file_service


class AccountError(i18n.KeyedError):
    """Why an account cannot be created or changed (an i18n key and its values)."""


def new_account(
    username: str, email: str, password: str | None, *, allowed_domains: tuple[str, ...] = ()
) -> tuple[str, str]:
    """The normalized username and email of a new account, or AccountError for the first problem:
    the username's form, the email's form and, for self sign-up (`allowed_domains`), its domain,
    then the password's length (None: no password is chosen here, as for an import)."""
    username, email = users_repo.normalize_username(username), users_repo.normalize_email(email)
    problem = auth.username_problem(username) or auth.email_problem(email, allowed_domains)
    if problem is None and password is not None:
        problem = auth.password_problem(password)
    if problem:
        raise AccountError(problem, domains=", ".join(allowed_domains))
    return username, email


def new_password(password: str) -> None:
    """AccountError when `password` cannot be a password (too short, too long)."""
    if problem := auth.password_problem(password):
        raise AccountError(problem)


def create(
    *,
    session: Session,
    username: str,
    email: str,
    password_hash: str,
    is_admin: bool = False,
    chosen_by_other: bool = False,
) -> User:
    """Add the account (checked by new_account first). A password someone else chose (an admin,
    an import) works once: its user picks their own at the first sign-in. AccountError when the
    username or the email is taken."""
    try:
        return users_repo.create_user(
            session=session,
            username=username,
            email=email,
            password_hash=password_hash,
            is_admin=is_admin,
            must_change_password=chosen_by_other,
        )
    except users_repo.DuplicateUser as exc:
        raise AccountError("username_taken" if exc.field == "username" else "email_taken") from None


LOCAL, DIRECTORY = "local", "ldap"  # User.auth_source: where the password is checked
# A directory account's password_hash: not a bcrypt hash, so no password ever matches it here.
NO_LOCAL_PASSWORD = "!directory"


def sign_in_from_directory(
    *, session: Session, username: str, email: str, is_admin: bool | None
) -> tuple[User, list[str]]:
    """The local account of a directory user whose password the directory just accepted: created at
    the first sign-in (no local password, email from the directory), later kept in line with the
    directory (its email; its administrator rights when `is_admin` is not None, i.e. admin_group is
    set). Returns the account and what changed, for the audit trail. AccountError when the name
    cannot be a username here, a new account has no usable email, or the name is a local account's."""
    username = users_repo.normalize_username(username)
    email = users_repo.normalize_email(email)
    email_ok = bool(email) and auth.email_problem(email, ()) is None
    user = users_repo.get_user_by_username(session=session, username=username)
    if user is None:
        if auth.username_problem(username):
            raise AccountError("directory_username_invalid")
        if not email_ok:
            raise AccountError("directory_no_email")
        try:
            user = users_repo.create_user(
                session=session, username=username, email=email, password_hash=NO_LOCAL_PASSWORD,
                is_admin=bool(is_admin), auth_source=DIRECTORY,
            )  # fmt: skip
        except users_repo.DuplicateUser as exc:
            raise AccountError("username_taken" if exc.field == "username" else "email_taken") from None
        return user, ["account created"]
    if user.auth_source != DIRECTORY:
        raise AccountError("bad_credentials")  # a local account: its own password, never the directory's
    changes = []
    if email_ok and email != user.email:
        try:
            users_repo.set_email(session=session, user_id=user.id, email=email)
            changes.append("email updated")
        except users_repo.DuplicateUser:
            changes.append("email kept: the directory's is another account's")
    if is_admin is not None and is_admin != user.is_admin:
        users_repo.set_admin(session=session, user_id=user.id, admin=is_admin)
        changes.append("administrator rights given" if is_admin else "administrator rights removed")
    return user, changes


def set_password(
    *, session: Session, user_id: int, password_hash: str, chosen_by_other: bool, keep_sessions: bool = False
) -> int:
    """A new password for the user; returns how many of their sessions ended.

    One chosen by someone else works once (see create). Whoever signed in with the old password
    must sign in again: every session of the user ends, unless `keep_sessions` (an administrator
    changing their own keeps the one they use). AccountError for a directory account: its password
    is the directory's.
    """
    user = users_repo.get_user(session=session, user_id=user_id)
    if user is not None and user.auth_source == DIRECTORY:
        raise AccountError("directory_password_elsewhere")
    users_repo.set_password_hash(
        session=session, user_id=user_id, password_hash=password_hash, must_change=chosen_by_other
    )
    return 0 if keep_sessions else users_repo.end_user_sessions(session=session, user_id=user_id)


def set_active(*, session: Session, user_id: int, active: bool) -> None:
    """Enable or disable the account; disabling ends its sessions (its next click lands on /login)."""
    users_repo.set_active(session=session, user_id=user_id, active=active)


def set_admin(*, session: Session, user_id: int, admin: bool) -> None:
    """Give or take administrator rights; taking them ends the user's sessions, so an admin page
    they have open cannot act any more."""
    users_repo.set_admin(session=session, user_id=user_id, admin=admin)


def promote(*, session: Session, user: User) -> bool:
    """Make an existing account an active administrator, its password and conversations kept;
    True when it had been disabled."""
    was_disabled = not user.is_active
    user.is_admin, user.is_active = True, True
    session.add(user)
    return was_disabled


def set_email(*, session: Session, user_id: int, email: str) -> str:
    """Correct the email FabriX is told (sign-up does not verify it); returns it normalized.
    AccountError when it is not an email or another account has it."""
    email = users_repo.normalize_email(email)
    problem = auth.form_problem({"email": email}) or auth.email_problem(email, ())
    if problem:
        raise AccountError(problem)
    try:
        users_repo.set_email(session=session, user_id=user_id, email=email)
    except users_repo.DuplicateUser:
        raise AccountError("email_taken") from None
    return email


def delete(*, session: Session, user_id: int) -> tuple[int, int]:
    """Delete the account with its conversations, messages and sessions; returns (conversations,
    messages). Its uploaded files go with `delete_files` once this transaction has committed."""
    return users_repo.delete_user(session=session, user_id=user_id)


def delete_files(user_id: int) -> None:
    """The uploaded files of a deleted account (slow: call it in a worker thread)."""
    file_service.delete_user_files(user_id)


def create_invited(*, session: Session, invitation_id: int, username: str, email: str, password_hash: str) -> User:
    """Sign-up with a personal invitation: the account, and the invitation used by it, together
    (one transaction: if either fails, neither happens). AccountError "invitation_used" when
    another sign-up used it a moment ago, or it was revoked or expired meanwhile."""
    user = create(session=session, username=username, email=email, password_hash=password_hash)
    if not invitations_repo.use(session=session, invitation_id=invitation_id, username=username):
        raise AccountError("invitation_used")
    return user
