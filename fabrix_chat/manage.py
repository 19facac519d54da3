"""Command line for operators and scheduled tasks: `python -m fabrix_chat.manage COMMAND` (or `./run.sh manage`).

Reads the same secrets.toml as the app. Exit codes: 0 done, 1 failed (the message says what to do),
2 bad configuration or bad command line. Passwords come from a prompt or, with --password-stdin, from
one line of standard input; never from an argument, which would land in shell history and `ps`.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import io
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from fabrix_chat.config import ConfigError, Settings, load_settings, make_data_dir_private, secrets_path
from fabrix_chat.db import make_engine, session_scope
from fabrix_chat.i18n import t
from fabrix_chat.logging_setup import SecretMaskFilter, configure_logging, configured_secrets, log_file_path
from fabrix_chat.models import User
from fabrix_chat.repo import audit as audit_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.repo.audit import Action
from fabrix_chat.services import accounts, auth, maintenance
from fabrix_chat.services.maintenance import MaintenanceError
from fabrix_chat.units import size_label

log = logging.getLogger("fabrix_chat.manage")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PASSWORD_ATTEMPTS = 3
# Email given to a CLI-created admin when none is set: ".invalid" can never be a real domain.
PLACEHOLDER_EMAIL_DOMAIN = "fabrix-chat.invalid"
ADMIN_TRUE = frozenset({"1", "true", "yes", "y", "admin"})
ADMIN_FALSE = frozenset({"", "0", "false", "no", "n"})


def problem_text(key: str, allowed_domains: tuple[str, ...] = ()) -> str:
    """The English wording (from i18n.py, as on the sign-up page) of a password/username/email problem key."""
    return t(key, domains=", ".join(allowed_domains)).rstrip(".")


def _taken(exc: accounts.AccountError) -> str:
    """Which field a refused account's duplicate is in."""
    return "username" if exc.key == "username_taken" else "email"


class CommandError(Exception):
    """A command cannot go on; the message says what to do. Exits with status 1."""


def say(text: str = "") -> None:
    """Tell the operator what happened (standard output)."""
    print(text, flush=True)


def warn(text: str) -> None:
    """Tell the operator what went wrong or needs care (standard error)."""
    print(text, file=sys.stderr, flush=True)


# --- passwords -----------------------------------------------------------------------------


def _read_password_stdin() -> str:
    line = sys.stdin.readline()
    # Only the line ending goes: spaces may be part of the password.
    password = line.rstrip("\r\n")
    if not password:
        raise CommandError("No password on standard input: send it as one line, e.g. `printf '%s\\n' \"$PW\" | ...`.")
    return password


def ask_new_password(from_stdin: bool) -> str:
    """A new password from stdin (one line) or typed twice at a prompt; checked against the password rules."""
    if from_stdin:
        password = _read_password_stdin()
        try:
            accounts.new_password(password)
        except accounts.AccountError as exc:
            raise CommandError(f"{problem_text(exc.key)}.") from None
        return password
    if not sys.stdin.isatty():
        raise CommandError("There is no terminal to type a password in: pipe it in with --password-stdin.")
    for _ in range(PASSWORD_ATTEMPTS):
        password = getpass.getpass("New password: ")
        try:
            accounts.new_password(password)
        except accounts.AccountError as exc:
            warn(f"{problem_text(exc.key)}. Try again.")
            continue
        if getpass.getpass("Repeat the password: ") != password:
            warn("The two passwords differ. Try again.")
            continue
        return password
    raise CommandError("No password set. Run the command again.")


def one_time_password() -> str:
    """A random password to hand over once: 16 URL-safe characters."""
    return secrets.token_urlsafe(12)


# --- commands ------------------------------------------------------------------------------


COMMAND_LINE = "(command line)"  # the actor of the audit records a manage command writes


def _audit(settings: Settings, action: str, *, target: str = "", detail: str = "") -> None:
    """An audit record of what this command did (who: the operator at the command line)."""
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            audit_repo.record(session=session, action=action, actor=COMMAND_LINE, target=target, detail=detail)
    finally:
        engine.dispose()


def _engine(settings: Settings) -> Engine:
    """Bring the schema up to date, then open the database."""
    maintenance.migrate(settings)
    return make_engine(settings.database_url)


def cmd_show_mode(settings: Settings, args: argparse.Namespace) -> int:
    """What run.sh prints before starting: where the configuration came from and what it means."""
    say(f"Configuration: {settings.source or f'no {secrets_path()}: all defaults'}")
    if settings.fabrix_api.demo_mode:
        say("Mode: demo (built-in FabriX emulator; set [fabrix_api] base_url for the real FabriX)")
    else:
        say(f"Mode: FabriX at {settings.fabrix_api.base_url}")
    say(f"Database: {maintenance.describe_database(settings)}")
    say(f"Data folder: {settings.data_path}")
    return EXIT_OK


def cmd_show_bind(settings: Settings, args: argparse.Namespace) -> int:
    """Service mode's host, port and data folder as one JSON line, for launcher.py."""
    say(json.dumps({"host": settings.server.host, "port": settings.server.port, "data_dir": str(settings.data_path)}))
    return EXIT_OK


def cmd_prepare_start(settings: Settings, args: argparse.Namespace) -> int:
    """What the launcher does before every start, in one process: show-mode, migrate, show-bind."""
    for command in (cmd_show_mode, cmd_migrate, cmd_show_bind):
        command(settings, args)
    return EXIT_OK


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Create the database or bring its schema to the newest migration."""
    revision = maintenance.migrate(settings)
    say(f"Database {maintenance.describe_database(settings)} is up to date (schema revision {revision}).")
    return EXIT_OK


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    """Create an administrator; an existing username is promoted (and enabled), its password kept."""
    username = users_repo.normalize_username(args.username)
    if auth.username_problem(username):
        raise CommandError(f"Username {args.username!r} refused: {problem_text('username_invalid')}.")
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            user = users_repo.get_user_by_username(session=session, username=username)
            if user is not None:
                # An existing account is promoted, not replaced: its password and conversations stay.
                notes = []
                if accounts.promote(session=session, user=user):
                    notes.append("its account was disabled and is enabled again")
                log.warning("manage create-admin: promoted existing user %s to admin", username)
                audit_repo.record(session=session, action=Action.USER_PROMOTE, actor=COMMAND_LINE, target=username)
                detail = f" ({'; '.join(notes)})" if notes else ""
                say(f"User '{username}' already existed and is now an administrator{detail}.")
                say(f"Its password is unchanged; `manage reset-password --username {username}` sets a new one.")
                if args.email and users_repo.normalize_email(args.email) != user.email:
                    say(f"Its email stays {user.email}; --email is used only for new accounts.")
                return EXIT_OK
        email = users_repo.normalize_email(args.email) if args.email else f"{username}@{PLACEHOLDER_EMAIL_DOMAIN}"
        # Format only: the domain allow-list is for self sign-up, and the operator here is trusted.
        try:
            username, email = accounts.new_account(username, email, None)
        except accounts.AccountError:
            raise CommandError(f"Email {email!r} refused: {problem_text('email_invalid')}.") from None
        password = ask_new_password(args.password_stdin)
        password_hash = auth.hash_password(password)
        with session_scope(engine) as session:
            try:
                accounts.create(
                    session=session, username=username, email=email, password_hash=password_hash, is_admin=True
                )
            except accounts.AccountError as exc:
                raise CommandError(f"The {_taken(exc)} is already used by another account: choose another.") from None
    finally:
        engine.dispose()
    log.warning("manage create-admin: created admin %s", username)
    _audit(settings, Action.USER_CREATE, target=username, detail="administrator")
    say(f"Administrator '{username}' created (email {email}). Sign in at the app and open /admin.")
    return EXIT_OK


def cmd_reset_password(settings: Settings, args: argparse.Namespace) -> int:
    """Set a user's password and sign them out everywhere."""
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            user = users_repo.get_user_by_username(session=session, username=args.username)
            if user is None or user.id is None:
                raise CommandError(f"There is no user '{args.username}'. Check the spelling on the admin page.")
            if user.auth_source == accounts.DIRECTORY:
                raise CommandError(t("directory_password_elsewhere"))
            user_id, username = user.id, user.username
        password_hash = auth.hash_password(ask_new_password(args.password_stdin))
        with session_scope(engine) as session:
            ended = accounts.set_password(
                session=session, user_id=user_id, password_hash=password_hash, chosen_by_other=not args.keep
            )
    finally:
        engine.dispose()
    log.warning("manage reset-password: password of %s changed, %d sessions ended", username, ended)
    _audit(settings, Action.PASSWORD_RESET, target=username)
    say(f"Password of '{username}' changed; {ended} signed-in session(s) ended.")
    return EXIT_OK


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Online backup, optionally pruning older scheduled backups."""
    path = maintenance.backup(settings, Path(args.to) if args.to else None)
    say(f"Backup written to {path} ({size_label(path.stat().st_size)}), integrity check ok.")
    _audit(settings, Action.BACKUP, target=path.name)
    if args.keep:
        removed = maintenance.prune_backups(settings, args.keep)
        say(f"Removed {len(removed)} older backup(s); the newest {args.keep} are kept.")
    return EXIT_OK


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Replace the database with a backup after confirmation, then migrate it."""
    warn("The app must be stopped before a restore: a running app would keep writing to the old database.")
    target = maintenance.describe_database(settings)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("Not restored. Stop the app, then run again with --yes to confirm.")
        answer = input(f"Replace {target} with {args.file}? Type 'yes' to go on: ")
        if answer.strip().lower() != "yes":
            raise CommandError("Not restored: nothing was changed.")
    safety = maintenance.restore(settings, Path(args.file))
    say(f"Database {target} restored from {args.file}.")
    if safety is not None:
        say(f"The database it replaced is kept at {safety}.")
    revision = maintenance.migrate(settings)
    _audit(settings, Action.RESTORE, target=Path(args.file).name)
    say(f"Schema is at revision {revision}. Start the app again.")
    return EXIT_OK


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Integrity and schema check; exit 1 when anything is wrong."""
    problems = maintenance.check(settings)
    if problems == ["ok"]:
        say(f"Database {maintenance.describe_database(settings)}: ok.")
        return EXIT_OK
    warn(f"Database {maintenance.describe_database(settings)} has problems:")
    for line in problems:
        warn(f"  - {line}")
    warn("If the file is damaged, stop the app and restore the latest backup (`manage restore FILE`).")
    return EXIT_FAILED


def cmd_optimize(settings: Settings, args: argparse.Namespace) -> int:
    """ANALYZE and VACUUM, reporting the size before and after."""
    result = maintenance.optimize(settings)
    _audit(settings, Action.OPTIMIZE)
    say(
        f"Database optimized (ANALYZE, VACUUM) in {result['seconds']:.1f} s: "
        f"{size_label(result['size_before'])} before, {size_label(result['size_after'])} after."
    )
    return EXIT_OK


def cmd_cleanup(settings: Settings, args: argparse.Namespace) -> int:
    """Delete (or with --dry-run count) conversations idle for --days days, and audit records older
    than [audit] keep_days."""
    keep = settings.audit.keep_days
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            result = maintenance.cleanup(session=session, days=args.days, dry_run=args.dry_run)
            old_records = audit_repo.count_older(session=session, days=keep)
            if not args.dry_run:
                audit_repo.purge_older(session=session, days=keep)
                what = f"{result['conversations']} conversations idle {args.days} days, {old_records} audit records"
                audit_repo.record(session=session, action=Action.CLEANUP, actor=COMMAND_LINE, detail=what)
    finally:
        engine.dispose()
    what = f"{result['conversations']} conversation(s) with {result['messages']} message(s)"
    since = f"with no activity in the last {args.days} day(s) (before {result['cutoff']:%Y-%m-%d %H:%M} UTC)"
    records = f"{old_records} audit record(s) older than {keep} day(s) ([audit] keep_days)"
    if args.dry_run:
        say(f"Dry run: would delete {what} {since}, and {records}. Nothing was deleted.")
    else:
        say(f"Deleted {what} {since}, and {records}.")
    return EXIT_OK


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """Print the audit trail as CSV (UTC times), oldest first, for scripts."""
    since = _day_arg(args.since, "--since")
    until = _day_arg(args.until, "--until", next_day=True) if args.until else None
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            rows = audit_repo.list_records(
                session=session, user=args.user or "", action=args.action or "", since=since, until=until, limit=10**9
            )
    finally:
        engine.dispose()
    sys.stdout.write(audit_repo.to_csv(list(reversed(rows))))
    return EXIT_OK


def _day_arg(text: str, name: str, *, next_day: bool = False) -> datetime:
    """A YYYY-MM-DD argument: the start of that day (or of the next) in UTC."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{name} must be a date like 2026-12-01, not {text!r}.") from None
    return datetime.combine(day + timedelta(days=1 if next_day else 0), time(), tzinfo=UTC)


@dataclass
class _Row:
    line: int
    username: str
    email: str
    admin: bool


def _read_user_rows(path: Path, allowed_domains: tuple[str, ...]) -> tuple[list[_Row], list[str]]:
    """The valid rows of the CSV, and one message per bad row (with its line number)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CommandError(f"{path} does not exist.") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text: in Excel save it as 'CSV UTF-8 (comma delimited)'.") from None
    rows, bad = [], []
    first = True
    seen_usernames: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    for cells in reader:
        line = reader.line_num
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if first:
            first = False
            if cells[0].lower() == "username":
                continue  # the header row
        if len(cells) < 2 or len(cells) > 3:
            bad.append(f"line {line}: expected username,email[,admin], got {len(cells)} column(s)")
            continue
        flag = cells[2].lower() if len(cells) == 3 else ""
        try:
            username, email = accounts.new_account(cells[0], cells[1], None, allowed_domains=allowed_domains)
        except accounts.AccountError as exc:
            bad.append(f"line {line}: {problem_text(exc.key, allowed_domains)} ({cells[0]}, {cells[1]})")
            continue
        if flag not in ADMIN_TRUE | ADMIN_FALSE:
            bad.append(f"line {line}: admin column must be 1/true/yes or 0/false/no/empty, got {cells[2]!r}")
        elif username in seen_usernames:
            bad.append(f"line {line}: username {username} already on line {seen_usernames[username]}")
        elif email in seen_emails:
            bad.append(f"line {line}: email {email} already on line {seen_emails[email]}")
        else:
            seen_usernames[username], seen_emails[email] = line, line
            rows.append(_Row(line, username, email, flag in ADMIN_TRUE))
    return rows, bad


def cmd_import_users(settings: Settings, args: argparse.Namespace) -> int:
    """Per row: bad and existing rows are reported and skipped, the rest are created in one transaction."""
    rows, bad = _read_user_rows(Path(args.file), settings.auth.allowed_email_domains)
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            taken_usernames = set(session.exec(select(User.username)))
            taken_emails = set(session.exec(select(User.email)))
        skipped, new = [], []
        for row in rows:
            if row.username in taken_usernames:
                skipped.append(f"line {row.line}: user {row.username} already exists")
            elif row.email in taken_emails:
                skipped.append(f"line {row.line}: email {row.email} already belongs to another user")
            else:
                new.append(row)
        passwords = [one_time_password() for _ in new]
        # bcrypt releases the GIL: hashing in threads makes a few hundred users take seconds, not minutes.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            hashes = list(pool.map(auth.hash_password, passwords))
        # One transaction: either every new user exists afterwards, or none does (and no password was shown).
        try:
            with session_scope(engine) as session:
                for row, password_hash in zip(new, hashes, strict=True):
                    accounts.create(
                        session=session,
                        username=row.username,
                        email=row.email,
                        password_hash=password_hash,
                        is_admin=row.admin,
                        chosen_by_other=True,  # the printed password works once
                    )
        except accounts.AccountError as exc:
            raise CommandError(
                f"A {_taken(exc)} in the file was registered by someone else meanwhile; no user was created. "
                "Run the command again: existing users are skipped."
            ) from None
    finally:
        engine.dispose()

    log.warning("manage import-users: %d created, %d skipped, %d bad rows", len(new), len(skipped), len(bad))
    if new:
        _audit(settings, Action.USER_CREATE, target=f"{len(new)} users", detail=f"imported from {Path(args.file).name}")
    if new:
        say(f"Created {len(new)} user(s). Each password below is shown only this once: hand it over privately.")
        width = max(len(r.username) for r in new)
        for row, password in zip(new, passwords, strict=True):
            say(f"  {row.username:<{width}}  {password}  {row.email}{'  (admin)' if row.admin else ''}")
        say("An admin can set a new password later on the admin page or with `manage reset-password`.")
    else:
        say("No new users created.")
    if skipped:
        say(f"Skipped {len(skipped)} row(s) that already exist:")
        for line in skipped:
            say(f"  {line}")
    if bad:
        warn(f"{len(bad)} row(s) not imported; fix them and run the command again (existing users are skipped):")
        for line in bad:
            warn(f"  {line}")
        return EXIT_FAILED
    return EXIT_OK


# --- the parser ----------------------------------------------------------------------------


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


class _RefusePassword(argparse.Action):
    """`--password VALUE` is an error that says why, without repeating the value."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        parser.error(
            "a password is never taken as an argument (it would be kept in shell history and shown by ps): "
            "type it at the prompt, or pipe it in with --password-stdin"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m fabrix_chat.manage",
        description="Operate FabriX Agent Chat: accounts, database backup and maintenance. "
        "Configuration comes from secrets.toml (or the file named by FABRIX_CHAT_SECRETS).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[Settings, argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, allow_abbrev=False)
        p.set_defaults(handler=handler)
        return p

    add("migrate", cmd_migrate, "create the database or bring its schema up to date")
    add("show-mode", cmd_show_mode, "print where the configuration comes from, demo or real FabriX, the database")
    add("prepare-start", cmd_prepare_start, "show-mode, migrate and show-bind in one go (used by launcher.py)")
    add("show-bind", cmd_show_bind, "print service mode's host, port and data folder as JSON (used by launcher.py)")

    p = add("create-admin", cmd_create_admin, "create an administrator, or make an existing user one")
    p.add_argument("--username", required=True)
    p.add_argument("--email", help=f"for a new account (default USERNAME@{PLACEHOLDER_EMAIL_DOMAIN})")
    p.add_argument("--password-stdin", action="store_true", help="read the password from one line of standard input")
    p.add_argument("--password", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)

    p = add("reset-password", cmd_reset_password, "set a new password for a user and end their sessions")
    p.add_argument("--username", required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from one line of standard input")
    p.add_argument("--password", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)
    p.add_argument(
        "--keep",
        action="store_true",
        help="let the user keep this password (by default they must choose their own at the next sign-in)",
    )

    p = add("backup", cmd_backup, "online backup of the SQLite database (safe while the app runs)")
    p.add_argument("--to", metavar="FILE", help="file or folder (default data_dir/backups/fabrix_chat-DATE-TIME.db)")
    p.add_argument("--keep", metavar="N", type=_at_least_one, help="then delete all but the newest N scheduled backups")

    p = add("restore", cmd_restore, "replace the database with a backup (stop the app first)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    add("check", cmd_check, "check the database's integrity and schema (exit 1 on problems)")
    add("optimize", cmd_optimize, "ANALYZE and VACUUM the database (blocks writes meanwhile: run at a quiet time)")

    p = add("cleanup", cmd_cleanup, "delete conversations with no activity for N days")
    p.add_argument("--days", required=True, type=_at_least_one, metavar="N")
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    p = add("audit", cmd_audit, "print the audit trail as CSV (times in UTC), oldest first")
    p.add_argument("--since", required=True, metavar="YYYY-MM-DD", help="from this day (UTC)")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="up to and including this day (UTC)")
    p.add_argument("--user", help="only records by or about this user (part of the name)")
    p.add_argument("--action", help="only this kind of action (part of its name, e.g. sign_in)")

    p = add("import-users", cmd_import_users, "create users from a CSV file: username,email[,admin]")
    p.add_argument("file", metavar="FILE.csv")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        warn(f"Configuration error: {exc}")
        warn(f"Fix the file ({secrets_path()}) and run the command again; secrets.toml.example documents every key.")
        return EXIT_USAGE
    # The file only: what the command did is printed below in plain words, and also kept in the app log.
    try:
        make_data_dir_private(settings)
        configure_logging(settings, console=False)
    except OSError as exc:
        warn(f"Warning: cannot write the log file in {settings.data_path} ({exc}); going on without it.")
    try:
        return args.handler(settings, args)
    except (CommandError, MaintenanceError) as exc:
        warn(f"Error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        warn("Interrupted.")
        return 130
    except Exception as exc:
        # Unexpected (a locked or unreachable database, a bug): one plain line here, the traceback in the log.
        log.exception("manage %s failed", args.command)
        detail = SecretMaskFilter(configured_secrets(settings)).mask(str(exc))
        warn(f"Error: {args.command} failed unexpectedly: {type(exc).__name__}: {detail}")
        warn(f"The details are in {log_file_path(settings)}. Run `manage check`, and try again.")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
