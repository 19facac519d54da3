"""Recording to the audit trail from the app (repo/audit.py holds the records).

`await audit.note(Action.USER_DISABLE, actor=admin.username, target=user.username, client=ip)`
writes one record in its own transaction. A record that cannot be written is logged as an error
and the action it describes is not undone.
"""

from __future__ import annotations

import logging

from fabrix_chat.db import run_db
from fabrix_chat.repo import audit as audit_repo
from fabrix_chat.repo.audit import Action

log = logging.getLogger(__name__)

__all__ = ["Action", "note"]


async def note(action: Action, *, actor: str = "", target: str = "", client: str = "", detail: str = "") -> None:
    try:
        await run_db(audit_repo.record, action=action, actor=actor, target=target, client=client, detail=detail)
    except Exception:
        log.exception("could not write the audit record %s by %r on %r", action, actor, target)
