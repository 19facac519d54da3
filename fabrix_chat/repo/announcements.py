"""Announcements: a banner on every chat page (info or warning, markdown, never raw HTML) until
its end time; each user dismisses it for themself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from fabrix_chat.i18n import KeyedError
from fabrix_chat.models import Announcement, AnnouncementDismissal, as_utc, utcnow

LEVELS = ("info", "warning")
LEVEL_KEYS = {"info": "announcement_level_info", "warning": "announcement_level_warning"}  # their names
MAX_TEXT_CHARS = 2000
MAX_ACTIVE = 20  # announcements live at once


class AnnouncementError(KeyedError):
    """An announcement that cannot be posted; its i18n key says why."""


def post(*, session: Session, text: object, level: object, ends_at: datetime | None, created_by: str) -> Announcement:
    body = str(text if isinstance(text, str) else "").replace("\x00", "").strip()
    if not body:
        raise AnnouncementError("announcement_empty")
    if len(body) > MAX_TEXT_CHARS:
        raise AnnouncementError("announcement_too_long", limit=MAX_TEXT_CHARS)
    if level not in LEVELS:
        raise AnnouncementError("announcement_level_bad")
    now = utcnow()
    if ends_at is not None and ends_at <= now:
        raise AnnouncementError("announcement_ends_in_past")
    if len(live(session=session, now=now)) >= MAX_ACTIVE:
        raise AnnouncementError("announcement_too_many", limit=MAX_ACTIVE)
    row = Announcement(text=body, level=str(level), ends_at=ends_at, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def live(*, session: Session, now: datetime | None = None) -> list[Announcement]:
    """Announcements not yet ended, newest first."""
    now = now or utcnow()
    stmt = select(Announcement).where(or_(col(Announcement.ends_at).is_(None), col(Announcement.ends_at) > now))
    return list(session.exec(stmt.order_by(col(Announcement.created_at).desc(), col(Announcement.id).desc())))


def list_all(*, session: Session, limit: int = 200) -> list[Announcement]:
    stmt = select(Announcement).order_by(col(Announcement.created_at).desc(), col(Announcement.id).desc())
    return list(session.exec(stmt.limit(limit)))


def for_user(*, session: Session, user_id: int, now: datetime | None = None) -> list[Announcement]:
    """What the user's chat page shows: live announcements they have not dismissed."""
    stmt = select(AnnouncementDismissal.announcement_id).where(AnnouncementDismissal.user_id == user_id)
    dismissed = set(session.exec(stmt))
    return [a for a in live(session=session, now=now) if a.id not in dismissed]


def dismiss(*, session: Session, user_id: int, announcement_id: int) -> bool:
    """The user's Dismiss; False when there is no such live announcement."""
    row = session.get(Announcement, announcement_id)
    if row is None or (row.ends_at is not None and as_utc(row.ends_at) <= utcnow()):
        return False
    try:
        with session.begin_nested():
            session.add(AnnouncementDismissal(announcement_id=announcement_id, user_id=user_id))
    except IntegrityError:
        return True  # already dismissed (pressed in two tabs at once): what was asked is so
    return True


def remove(*, session: Session, announcement_id: int) -> Announcement | None:
    row = session.get(Announcement, announcement_id)
    if row is None:
        return None
    session.delete(row)
    return row
