"""Personal invitations: one sign-up for one email address, valid for some days.

The code is shown to the admin once and stored only as its SHA-256; a code given at sign-up is
hashed, looked up, and compared in constant time. Using one is a single UPDATE that succeeds for
one sign-up only, inside the transaction that creates the account (a sign-up that fails leaves
the invitation open).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from fabrix_chat.models import Invitation, as_utc, utcnow

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I/L to misread
CODE_LENGTH = 16  # 80 bits
MAX_DAYS = 90
LIST_LIMIT = 500


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(code: str) -> str:
    """The stored form of a code (as typed: spaces and dashes dropped, any case)."""
    cleaned = "".join(ch for ch in str(code).upper() if ch.isalnum())
    return hashlib.sha256(cleaned.encode("utf-8")).hexdigest()


def state_of(invitation: Invitation, now: datetime | None = None) -> str:
    """ "open", "used", "revoked" or "expired"."""
    if invitation.used_at is not None:
        return "used"
    if invitation.revoked_at is not None:
        return "revoked"
    return "expired" if as_utc(invitation.expires_at) <= (now or utcnow()) else "open"


def create(*, session: Session, email: str, days: int, created_by: str) -> tuple[Invitation, str]:
    """A new invitation for `email` (already checked) valid `days` days: (it, its code)."""
    code = new_code()
    row = Invitation(
        email=email, code_hash=code_hash(code), created_by=created_by, expires_at=utcnow() + timedelta(days=days)
    )
    session.add(row)
    session.flush()
    return row, code


def list_all(*, session: Session, limit: int = LIST_LIMIT) -> list[Invitation]:
    stmt = select(Invitation).order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
    return list(session.exec(stmt.limit(limit)))


def revoke(*, session: Session, invitation_id: int) -> Invitation | None:
    """Revoke an open invitation; None when there is no such open one."""
    row = session.get(Invitation, invitation_id)
    if row is None or state_of(row) != "open":
        return None
    row.revoked_at = utcnow()
    session.add(row)
    return row


@dataclass(frozen=True)
class OpenInvitation:
    id: int
    email: str


def find_open(*, session: Session, code: str) -> OpenInvitation | None:
    """The open invitation with this code, if any."""
    if not str(code).strip():
        return None
    wanted = code_hash(code)
    row = session.exec(select(Invitation).where(Invitation.code_hash == wanted)).first()
    if row is None or not hmac.compare_digest(row.code_hash, wanted) or state_of(row) != "open":
        return None
    return OpenInvitation(row.id or 0, row.email)


def any_open(*, session: Session) -> bool:
    now = utcnow()
    stmt = select(Invitation.id).where(
        col(Invitation.used_at).is_(None), col(Invitation.revoked_at).is_(None), col(Invitation.expires_at) > now
    )
    return session.exec(stmt.limit(1)).first() is not None


def use(*, session: Session, invitation_id: int, username: str) -> bool:
    """Mark the invitation used by `username`; False when it is no longer open (used a moment
    ago by another sign-up, revoked or expired): then the caller must not create the account."""
    now = utcnow()
    result = session.exec(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation_id,
            col(Invitation.used_at).is_(None),
            col(Invitation.revoked_at).is_(None),
            col(Invitation.expires_at) > now,
        )
        .values(used_at=now, used_by=username)
    )
    return result.rowcount == 1
