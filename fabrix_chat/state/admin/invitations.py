"""The Invitations tab: personal invitations (one sign-up for one email address, valid for some
days), their state, Revoke; a new code is shown once (components/admin/invitations.py)."""

from __future__ import annotations

import dataclasses
import logging
from typing import ClassVar

import reflex as rx

from fabrix_chat.db import run_db
from fabrix_chat.models import User, record_id, utcnow
from fabrix_chat.repo import invitations as invitations_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import audit
from fabrix_chat.services import auth as auth_service
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import AdminState, admin_only, local_time

log = logging.getLogger(__name__)

DEFAULT_DAYS = 7
STATE_KEYS = {
    "open": "admin_invitation_open",
    "used": "admin_invitation_used",
    "expired": "admin_invitation_expired",
    "revoked": "admin_invitation_revoked_state",
}
FORM_FIELDS = ("admin-invitation-email",)


@dataclasses.dataclass
class InvitationRow:
    id: int = 0
    email: str = ""
    state: str = ""  # open, used, expired, revoked (shown in the admin's language)
    state_key: str = ""  # the same, as a key (data-state)
    detail: str = ""  # used by whom and when, or valid until
    created: str = ""


class AdminInvitationsState(AdminState):
    TAB: ClassVar[str] = "invitations"

    invitations: list[InvitationRow] = []
    invitation_code: str = ""  # a code just created: shown once, gone at the next action
    invitation_for: str = ""

    async def _load(self) -> None:
        rows = await run_db(invitations_repo.list_all)
        now = utcnow()
        self.invitations = [self._row(r, invitations_repo.state_of(r, now)) for r in rows]

    def _row(self, r, state: str) -> InvitationRow:
        if state == "used":
            detail = self._t("admin_invitation_used_by", username=r.used_by, when=local_time(r.used_at))
        elif state == "open":
            detail = self._t("admin_invitation_until", when=local_time(r.expires_at))
        elif state == "revoked":
            detail = local_time(r.revoked_at)
        else:
            detail = local_time(r.expires_at)
        return InvitationRow(
            id=r.id or 0,
            email=r.email,
            state=self._t(STATE_KEYS[state]),
            state_key=state,
            detail=detail,
            created=local_time(r.created_at),
        )

    @admin_only
    async def create_invitation(self, admin: User, form: dict):
        """`Create invitation`: a code for one sign-up with this email, valid for the days given."""
        form = form if isinstance(form, dict) else {}
        self.invitation_code, self.invitation_for = "", ""
        email = users_repo.normalize_email(str(form.get("email", "")))
        problem = auth_service.form_problem({"email": email}) or auth_service.email_problem(email, ())
        days_text = str(form.get("days", "")).strip() or str(DEFAULT_DAYS)
        days = int(days_text) if days_text.isdigit() and len(days_text) <= 3 else 0
        if problem is None and not 1 <= days <= invitations_repo.MAX_DAYS:
            problem = "admin_invitation_days"
        if problem is None and await run_db(users_repo.get_user_by_email, email=email) is not None:
            problem = "email_taken"
        if problem:
            self._say(error=self._t(problem, limit=invitations_repo.MAX_DAYS))
            return None
        invitation, code = await run_db(invitations_repo.create, email=email, days=days, created_by=admin.username)
        log.warning("admin %s created an invitation for %s, valid %s days", admin.username, email, days)
        await audit.note(
            Action.INVITATION_CREATE, actor=admin.username, target=email, client=self._client(), detail=f"{days} days"
        )
        self.invitation_code, self.invitation_for = code, email
        until = local_time(invitation.expires_at)
        self._say(notice=self._t("admin_invitation_created", email=email, when=until))
        await self._load()
        return [rx.set_value(field_id, "") for field_id in FORM_FIELDS]

    @admin_only
    async def revoke_invitation(self, admin: User, invitation_id: int):
        """A row's `Revoke`: the code no longer signs anyone up."""
        self.invitation_code, self.invitation_for = "", ""
        revoked = await run_db(invitations_repo.revoke, invitation_id=record_id(invitation_id))
        if revoked is None:
            self._say(error=self._t("admin_invitation_not_open"))
        else:
            log.warning("admin %s revoked the invitation for %s", admin.username, revoked.email)
            await audit.note(
                Action.INVITATION_REVOKE, actor=admin.username, target=revoked.email, client=self._client()
            )
            self._say(notice=self._t("admin_invitation_revoked", email=revoked.email))
        await self._load()
