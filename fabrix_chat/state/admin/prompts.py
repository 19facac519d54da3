"""The Prompts tab: prompts published for everyone's prompt library, publish and delete
(components/admin/prompts.py)."""

from __future__ import annotations

import dataclasses
import logging
from typing import ClassVar

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.db import run_db
from fabrix_chat.models import User, record_id
from fabrix_chat.repo import prompts as prompts_repo
from fabrix_chat.services import audit
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import AdminState, admin_only, local_time

log = logging.getLogger(__name__)

PREVIEW_CHARS = 200
# The publish form's text fields (element ids), emptied after a prompt is published.
PUBLISH_FORM_FIELDS = ("admin-prompt-title", "admin-prompt-body")


@dataclasses.dataclass
class PublishedRow:
    id: int = 0
    title: str = ""
    preview: str = ""
    created: str = ""


class AdminPromptsState(AdminState):
    TAB: ClassVar[str] = "prompts"

    published_prompts: list[PublishedRow] = []

    async def _load(self) -> None:
        rows = await run_db(prompts_repo.list_published)
        self.published_prompts = [
            PublishedRow(
                id=p.id or 0,
                title=p.title,
                preview=_preview(p.body),
                created=local_time(p.created_at),
            )
            for p in rows
        ]

    @admin_only
    async def publish_prompt(self, admin: User, form: dict):
        """`Publish prompt`: a prompt in everyone's library."""
        form = form if isinstance(form, dict) else {}
        try:
            prompt = await run_db(prompts_repo.publish_prompt, title=form.get("title", ""), body=form.get("body", ""))
        except prompts_repo.PromptError as exc:
            self._say(error=i18n.error_text(exc, self._lang))
            return None
        log.warning("admin %s published the prompt %r", admin.username, prompt.title)
        await audit.note(Action.PROMPT_PUBLISH, actor=admin.username, target=prompt.title, client=self._client())
        self._say(notice=self._t("admin_prompt_published", title=prompt.title))
        await self._load()
        return [rx.set_value(field_id, "") for field_id in PUBLISH_FORM_FIELDS]

    @admin_only
    async def delete_published_prompt(self, admin: User, prompt_id: int):
        """A row's `Delete prompt`: gone from everyone's library."""
        prompt = await run_db(prompts_repo.delete_published, prompt_id=record_id(prompt_id))
        if prompt is None:
            self._say(error=self._t("prompt_not_found"))
        else:
            log.warning("admin %s deleted the published prompt %r", admin.username, prompt.title)
            await audit.note(Action.PROMPT_DELETE, actor=admin.username, target=prompt.title, client=self._client())
            self._say(notice=self._t("admin_prompt_deleted", title=prompt.title))
        await self._load()


def _preview(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS].rstrip() + "…"
