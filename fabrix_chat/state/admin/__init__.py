"""The admin page (/admin): one small state per tab, under AdminState.

- base.py: AdminState (the open tab, the last action's notice or error) and the admin rule,
  `@admin_only`, which every admin handler is written with;
- users.py, conversations.py, usage.py, logs.py, maintenance.py, settings.py, invitations.py,
  prompts.py, announcements.py, audit.py: one tab each,
  next to its components in components/admin/ (same module names).
"""

from fabrix_chat.state.admin.announcements import AdminAnnouncementsState
from fabrix_chat.state.admin.audit import AdminAuditState
from fabrix_chat.state.admin.base import AdminState, admin_only
from fabrix_chat.state.admin.conversations import AdminConversationsState
from fabrix_chat.state.admin.invitations import AdminInvitationsState
from fabrix_chat.state.admin.logs import AdminLogsState
from fabrix_chat.state.admin.maintenance import AdminMaintenanceState
from fabrix_chat.state.admin.prompts import AdminPromptsState
from fabrix_chat.state.admin.settings import AdminSettingsState
from fabrix_chat.state.admin.usage import AdminUsageState
from fabrix_chat.state.admin.users import AdminUsersState

__all__ = [
    "AdminAnnouncementsState",
    "AdminAuditState",
    "AdminConversationsState",
    "AdminInvitationsState",
    "AdminLogsState",
    "AdminMaintenanceState",
    "AdminPromptsState",
    "AdminSettingsState",
    "AdminState",
    "AdminUsageState",
    "AdminUsersState",
    "admin_only",
]
