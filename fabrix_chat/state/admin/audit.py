"""The Audit tab: the audit trail, filtered by user, action and dates, and Export CSV
(components/admin/audit.py; the records are written by services/audit.py)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar

import reflex as rx

from fabrix_chat.db import run_db
from fabrix_chat.models import User
from fabrix_chat.repo import audit as audit_repo
from fabrix_chat.services import audit
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import AdminState, admin_only, local_time

log = logging.getLogger(__name__)

SHOWN = 300  # records on the page; Export CSV has them all
EXPORT_LIMIT = 1_000_000


@dataclasses.dataclass
class AuditRow:
    id: int = 0
    when: str = ""
    actor: str = ""
    action: str = ""
    target: str = ""
    client: str = ""
    detail: str = ""


def day_start(text: object, *, next_day: bool = False) -> datetime | None:
    """A date field's "YYYY-MM-DD" as the start of that day (or of the day after) in the server's
    time zone, in UTC; None when empty or not a date."""
    try:
        day = date.fromisoformat(str(text or "").strip()[:10])
    except ValueError:
        return None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time()).astimezone().astimezone(UTC)


class AdminAuditState(AdminState):
    TAB: ClassVar[str] = "audit"

    audit_rows: list[AuditRow] = []
    audit_user: str = ""
    audit_action: str = ""
    audit_from: str = ""  # YYYY-MM-DD, server time; "" no bound
    audit_to: str = ""
    audit_more: bool = False  # more records match than are shown

    def _filters(self) -> dict:
        return {
            "user": self.audit_user,
            "action": self.audit_action,
            "since": day_start(self.audit_from),
            "until": day_start(self.audit_to, next_day=True),
        }

    async def _load(self) -> None:
        rows = await run_db(audit_repo.list_records, limit=SHOWN + 1, **self._filters())
        self.audit_more = len(rows) > SHOWN
        self.audit_rows = [
            AuditRow(
                id=r.id or 0,
                when=local_time(r.created_at),
                actor=r.actor,
                action=r.action,
                target=r.target,
                client=r.client,
                detail=r.detail,
            )
            for r in rows[:SHOWN]
        ]

    @admin_only
    async def set_audit_filter(self, admin: User, form: dict):
        """The filters: `Filter by user` (the one acting or acted on) and `Filter by action` (part of
        their names, any case), From and To (days, server time)."""
        form = form if isinstance(form, dict) else {}
        self.audit_user = str(form.get("user", "")).strip()[:64]
        self.audit_action = str(form.get("action", "")).strip().lower()[:40]
        self.audit_from = str(form.get("from", ""))[:10] if day_start(form.get("from")) else ""
        self.audit_to = str(form.get("to", ""))[:10] if day_start(form.get("to")) else ""
        self._say()
        await self._load()

    @admin_only
    async def export_audit(self, admin: User):
        """`Export CSV`: every record the filters match (UTC times)."""
        rows = await run_db(audit_repo.list_records, limit=EXPORT_LIMIT, **self._filters())
        log.warning("admin %s exported %s audit records", admin.username, len(rows))
        await audit.note(
            Action.AUDIT_EXPORT, actor=admin.username, client=self._client(), detail=f"{len(rows)} records"
        )
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        return rx.download(data=audit_repo.to_csv(rows), filename=f"audit-{stamp}.csv")
