"""The prompt library on the chat page: the `Prompts` dialog (the user's own prompts and those
published for everyone, searched on the server; choosing one puts its text into the composer)
and `Save as prompt` on a question (components/prompts.py).

Every handler checks the signed-in user, and the repository functions are scoped to that user:
another user's prompt or message is "not found". The text saved is always read on the server,
never taken from the browser.
"""

from __future__ import annotations

import dataclasses
import json

import reflex as rx

from fabrix_chat import i18n
from fabrix_chat.db import run_db
from fabrix_chat.models import Prompt, Role, record_id
from fabrix_chat.repo import prompts as prompts_repo
from fabrix_chat.state.chat import ChatState

PREVIEW_CHARS = 160  # of a prompt's text in the list
SAVE_PREVIEW_CHARS = 300  # of the question's text in the Save as prompt dialog

# Puts a prompt's text into the composer (an uncontrolled textarea) as a paste would: in place of
# its selection, at the caret. The first {{placeholder}} is then selected for typing over, once the
# dialog has closed and given focus back (Radix returns it to the Prompts button first).
_INSERT_JS = """(function (text) {
  var box = document.getElementById("composer-input");
  if (!box) return;
  var start = box.selectionStart || 0;
  box.setRangeText(text, start, box.selectionEnd || start, "end");
  var from = box.selectionEnd, to = from;
  var found = /\\{\\{[^{}\\n]+\\}\\}/.exec(text);
  if (found) { from = start + found.index; to = from + found[0].length; }
  var tries = 0;
  (function settle() {
    if (document.querySelector("[role=dialog]") && tries++ < 40) { setTimeout(settle, 25); return; }
    setTimeout(function () { box.focus(); box.setSelectionRange(from, to); }, 30);
  })();
})(%s)"""


def insert_script(text: str) -> str:
    """The JavaScript that puts `text` into the composer (json.dumps makes it a safe JS string)."""
    return _INSERT_JS % json.dumps(text)


@dataclasses.dataclass
class PromptItem:
    id: int = 0
    title: str = ""
    preview: str = ""
    published: bool = False  # published by an administrator for everyone (not the user's to delete)


def prompt_item(prompt: Prompt) -> PromptItem:
    text = " ".join(prompt.body.split())
    preview = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS].rstrip() + "…"
    return PromptItem(id=prompt.id or 0, title=prompt.title, preview=preview, published=prompt.user_id is None)


class PromptState(ChatState):
    prompts_open: bool = False
    prompt_query: str = ""
    prompts: list[PromptItem] = []
    prompts_error: str = ""  # shown inside the Prompts dialog (role alert)
    save_message_id: int = 0  # the question being saved as a prompt (its dialog is open)
    save_title: str = ""  # the title proposed: the question's first words
    save_preview: str = ""
    save_error: str = ""

    async def _text(self, key: str, **values: object) -> str:
        return i18n.t(key, await self._lang_now(), **values)

    async def _refresh(self, user_id: int) -> None:
        rows = await run_db(prompts_repo.list_prompts, user_id=user_id, query=self.prompt_query)
        self._set(prompts=[prompt_item(p) for p in rows])

    # --- the Prompts dialog ---------------------------------------------------------------

    @rx.event
    async def set_prompts_open(self, is_open: bool):
        """The composer's `Prompts` opens the dialog with every prompt the user may use, the search
        emptied; Esc, Close or a click outside closes it."""
        if not is_open:
            self._set(prompts_open=False, prompts_error="")
            return None
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self._set(prompt_query="", prompts_error="")
        await self._refresh(user.id)
        self._set(prompts_open=True)
        return None

    @rx.event
    async def set_prompt_query(self, query: str):
        """`Search prompts`: the prompts whose title or text contain the words typed."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        self._set(prompt_query=prompts_repo.clean_text(query)[: prompts_repo.MAX_QUERY_CHARS], prompts_error="")
        await self._refresh(user.id)
        return None

    @rx.event
    async def choose_prompt(self, prompt_id: int):
        """A prompt's button: its text into the composer, the first {{placeholder}} selected."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        prompt = await run_db(prompts_repo.get_prompt, user_id=user.id, prompt_id=record_id(prompt_id))
        if prompt is None:
            self._set(prompts_error=await self._text("prompt_not_found"))
            await self._refresh(user.id)
            return None
        self._set(prompts_open=False, prompts_error="")
        return rx.call_script(insert_script(prompt.body))

    @rx.event
    async def delete_prompt(self, prompt_id: int):
        """`Delete prompt` beside one of the user's own prompts."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        deleted = await run_db(prompts_repo.delete_prompt, user_id=user.id, prompt_id=record_id(prompt_id))
        self._set(prompts_error="" if deleted else await self._text("prompt_not_found"))
        await self._refresh(user.id)
        return None

    # --- Save as prompt --------------------------------------------------------------------

    async def _question_text(self, user_id: int, message_id: int) -> str | None:
        """The text of a question this page shows, read from the database for its owner."""
        from fabrix_chat.state.conversation import ConversationState

        shown = await (await self.get_state(ConversationState))._all()
        if not any(m.id == message_id and m.role == Role.USER for m in shown):
            return None
        return await run_db(prompts_repo.question_text, user_id=user_id, message_id=message_id)

    @rx.event
    async def save_as_prompt(self, message_id: int):
        """A question's `Save as prompt`: the dialog asking for its title (its first words proposed)."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        wanted = record_id(message_id)
        text = await self._question_text(user.id, wanted) if wanted else None
        if text is None:
            await self._alert_key("message_not_found")
            return None
        body = prompts_repo.clean_text(text)
        try:
            prompts_repo.checked("", body)
        except prompts_repo.PromptError as exc:
            await self._alert(i18n.error_text(exc, await self._lang_now()))
            return None
        preview = body if len(body) <= SAVE_PREVIEW_CHARS else body[:SAVE_PREVIEW_CHARS].rstrip() + "…"
        self._set(
            save_message_id=wanted, save_title=prompts_repo.title_from_body(body), save_preview=preview, save_error=""
        )
        return None

    @rx.event
    def cancel_save_prompt(self):
        self._set(save_message_id=0, save_title="", save_preview="", save_error="")

    @rx.event
    async def save_prompt(self, form: dict):
        """The dialog's `Save prompt`: the question's text (read again here) under the title typed."""
        user, redirect = await self._user_or_redirect()
        if redirect:
            return redirect
        if not self.save_message_id:
            return None
        text = await self._question_text(user.id, self.save_message_id)
        if text is None:
            self._set(save_error=await self._text("message_not_found"))
            return None
        title = form.get("title", "") if isinstance(form, dict) else ""
        try:
            await run_db(prompts_repo.save_prompt, user_id=user.id, title=title, body=text)
        except prompts_repo.PromptError as exc:
            self._set(save_error=i18n.error_text(exc, await self._lang_now()))
            return None
        self._set(save_message_id=0, save_title="", save_preview="", save_error="")
        return None
