"""The audit trail: who did what, to whom, when and from which client address.

Recorded: every administrator action, every sign-in, failed sign-in and sign-up (services/audit.py
says how). Never a secret: no password, code, token or key is ever put in a record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from fabrix_chat import spreadsheet
from fabrix_chat.models import AuditRecord, utcnow
from fabrix_chat.repo.conversations import LIKE_ESCAPE, escape_like


class Action(StrEnum):
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_UP = "sign_up"
    SIGN_UP_FAILED = "sign_up_failed"
    USER_CREATE = "user_create"
    USER_DISABLE = "user_disable"
    USER_ENABLE = "user_enable"
    USER_PROMOTE = "user_promote"
    USER_DEMOTE = "user_demote"
    USER_EMAIL = "user_email"
    USER_QUOTA = "user_quota"
    PASSWORD_RESET = "password_reset"
    USER_DELETE = "user_delete"
    CONVERSATION_VIEW = "conversation_view"
    CONVERSATION_DELETE = "conversation_delete"
    SHARE_REVOKE = "share_revoke"
    INVITATION_CREATE = "invitation_create"
    INVITATION_REVOKE = "invitation_revoke"
    PROMPT_PUBLISH = "prompt_publish"
    PROMPT_DELETE = "prompt_delete"
    ANNOUNCEMENT_POST = "announcement_post"
    ANNOUNCEMENT_REMOVE = "announcement_remove"
    BACKUP = "backup"
    RESTORE = "restore"
    INTEGRITY_CHECK = "integrity_check"
    OPTIMIZE = "optimize"
    CLEANUP = "cleanup"
    SETTINGS_VIEW = "settings_view"
    LOG_LEVEL = "log_level"
    AUDIT_EXPORT = "audit_export"
    USAGE_EXPORT = "usage_export"


def _fit(text: object, limit: int) -> str:
    return str(text or "").replace("\x00", "")[:limit]


def record(
    *, session: Session, action: str, actor: str = "", target: str = "", client: str = "", detail: str = ""
) -> AuditRecord:
    row = AuditRecord(
        action=_fit(action, 40),
        actor=_fit(actor, 64),
        target=_fit(target, 200),
        client=_fit(client, 100),
        detail=_fit(detail, 500),
    )
    session.add(row)
    session.flush()
    return row


def list_records(
    *,
    session: Session,
    user: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> list[AuditRecord]:
    """Newest first. `user` matches the actor or the target (part of the name, any case);
    `action` part of an Action's name; `since` and `until` bound the time (until excluded)."""
    stmt = select(AuditRecord)
    if user.strip():
        like = f"%{escape_like(user.strip())}%"
        stmt = stmt.where(
            col(AuditRecord.actor).ilike(like, escape=LIKE_ESCAPE)
            | col(AuditRecord.target).ilike(like, escape=LIKE_ESCAPE)
        )
    if action.strip():
        stmt = stmt.where(col(AuditRecord.action).ilike(f"%{escape_like(action.strip())}%", escape=LIKE_ESCAPE))
    if since is not None:
        stmt = stmt.where(col(AuditRecord.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditRecord.created_at) < until)
    stmt = stmt.order_by(col(AuditRecord.created_at).desc(), col(AuditRecord.id).desc()).limit(max(limit, 0))
    return list(session.exec(stmt))


def count_older(*, session: Session, days: int, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=days)
    return session.exec(select(func.count()).select_from(AuditRecord).where(col(AuditRecord.created_at) < cutoff)).one()


def purge_older(*, session: Session, days: int, now: datetime | None = None) -> int:
    """Delete the records older than `days` days; how many went."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    result = session.exec(delete(AuditRecord).where(col(AuditRecord.created_at) < cutoff))
    return result.rowcount or 0


def utc_text(when: datetime) -> str:
    """'YYYY-MM-DDTHH:MM:SS' in UTC (SQLite gives naive UTC datetimes back, PostgreSQL aware ones)."""
    return (when.astimezone(UTC) if when.tzinfo else when).replace(tzinfo=None).isoformat(timespec="seconds")


CSV_COLUMNS = ("time_utc", "actor", "action", "target", "client", "detail")


def to_csv(records: list[AuditRecord]) -> str:
    """The records as CSV, times in UTC (ISO 8601); formula-like text is quoted (spreadsheet.py)."""
    return spreadsheet.to_csv(
        CSV_COLUMNS,
        ((utc_text(r.created_at), r.actor, r.action, r.target, r.client, r.detail) for r in records),
    )
