"""The conversation: questions, answers, the answer being streamed, the alert and the empty state.

An answer streamed into this page is shown from the page's own buffer (`fabrixLive` in
assets/chat.js, which the server fills batch by batch), also after it has ended; answers loaded
from the database are shown from their text.
"""

from __future__ import annotations

import reflex as rx
from reflex.vars import VarData

from fabrix_chat.components.common import icon_button, text_button
from fabrix_chat.components.markdown import markdown
from fabrix_chat.components.prompts import save_as_prompt_button
from fabrix_chat.models import Role, Status
from fabrix_chat.state.chat import ChatState, MessageView
from fabrix_chat.state.conversation import ConversationState, MessagePageState
from fabrix_chat.state.live_answer import LiveAnswerState
from fabrix_chat.state.ui import tr

BUSY = LiveAnswerState.streaming | (LiveAnswerState.elsewhere_id != 0)


def _buffered(message_id: rx.Var, finished: rx.Var, parts: rx.Var) -> rx.Var:
    """`{text, status, done}` of one answer in the page's buffer, as React state that follows it."""
    key, done, count = str(message_id), str(finished), str(parts)
    # assets/chat.js may load after the page has rendered (a reload in the middle of an answer):
    # wait for it before listening.
    hook = (
        "const [liveAnswer, setLiveAnswer] = useState(() => window.fabrixLive ? "
        f"window.fabrixLive.get({key}) : {{text: '', status: '', done: false}});\n"
        "useEffect(() => { let stop, timer; const go = () => { if (window.fabrixLive) "
        f"{{ stop = window.fabrixLive.listen({key}, setLiveAnswer, {done}, {count}); }} else {{ timer = setTimeout(go, 50); }} }};"
        f" go(); return () => {{ clearTimeout(timer); if (stop) stop(); }}; }}, [{key}, {done}, {count}]);"
    )
    imports = {"react": ["useState", "useEffect"]}
    return rx.Var("liveAnswer", _var_data=VarData(hooks={hook: None}, imports=imports)).to(dict)


@rx.memo
def buffered_answer(message_id: rx.Var[int], finished: rx.Var[bool], parts: rx.Var[int]) -> rx.Component:
    """The answer's markdown from the page's buffer, with FabriX's status line while it streams."""
    live = _buffered(message_id, finished, parts)
    status = live["status"].to(str)
    return rx.fragment(
        # FabriX STATUS events: a transient line above the answer, never part of its text.
        rx.el.div(status, class_name="stream-status", role="status", hidden=status == ""),
        rx.el.div(markdown(live["text"].to(str)), class_name=rx.cond(finished, "", "typing-cursor")),
    )


def _copy_buffered(message_id: rx.Var) -> rx.event.EventSpec:
    return rx.call_script("window.fabrixLive&&fabrixLive.copy(" + message_id.to_string() + ")")


def _bot_icon() -> rx.Component:
    return rx.el.div(rx.icon("sparkles", size=16, aria_hidden="true"), class_name="bot-icon", aria_hidden="true")


def _attachment(message: MessageView) -> rx.Component:
    return rx.cond(
        message.attachment_name != "",
        rx.el.div(
            rx.icon("paperclip", size=14, aria_hidden="true"),
            rx.el.span(message.attachment_name, class_name="attachment-name"),
            rx.el.span(message.attachment_size, class_name="attachment-size"),
            class_name="attachment",
            role="group",
            aria_label=tr("attached_file"),
        ),
    )


def _edit_form(message: MessageView) -> rx.Component:
    return rx.el.div(
        rx.el.textarea(
            value=ConversationState.edit_text,
            on_change=ConversationState.set_edit_text,
            aria_label=tr("edited_message"),
            class_name="text-input",
            rows=3,
            auto_focus=True,
        ),
        rx.el.div(
            text_button(tr("cancel"), ConversationState.cancel_edit),
            text_button(tr("save_and_send"), ConversationState.save_edit, kind="primary"),
            class_name="dialog-actions",
        ),
        class_name="bubble",
        style={"width": "100%"},
    )


def version_switch(message: MessageView) -> rx.Component:
    """`Previous version`, "N / M", `Next version` on a question or answer that has versions."""
    return rx.cond(
        message.versions > 1,
        rx.el.div(
            icon_button(
                "chevron-left",
                tr("previous_version"),
                ConversationState.show_version(message.id, -1),
                small=True,
                disabled=BUSY | (message.version <= 1),
            ),
            rx.el.span(message.version.to_string() + " / " + message.versions.to_string(), class_name="version-number"),
            icon_button(
                "chevron-right",
                tr("next_version"),
                ConversationState.show_version(message.id, 1),
                small=True,
                disabled=BUSY | (message.version >= message.versions),
            ),
            class_name="version-switch",
            role="group",
            aria_label=tr("versions"),
        ),
    )


def user_message(message: MessageView) -> rx.Component:
    return rx.el.article(
        rx.cond(
            ConversationState.editing_seq == message.seq,
            _edit_form(message),
            rx.el.div(
                rx.el.div(_attachment(message), rx.el.div(message.content), class_name="bubble"),
                rx.el.div(
                    icon_button(
                        "pencil",
                        tr("edit_message"),
                        ConversationState.start_edit(message.seq),
                        small=True,
                        disabled=BUSY,
                    ),
                    icon_button("copy", tr("copy_message"), rx.set_clipboard(message.content), small=True),
                    save_as_prompt_button(message.id),
                    version_switch(message),
                    class_name="message-actions",
                ),
                style={"max_width": "85%", "display": "flex", "flex_direction": "column", "align_items": "flex-end"},
            ),
        ),
        class_name="message",
        data_message_role=Role.USER,
    )


def _feedback_buttons(message: MessageView) -> rx.Component:
    """`Good answer` / `Bad answer` toggles (aria-pressed) on a finished answer."""
    return rx.fragment(
        icon_button(
            "thumbs-up",
            tr("good_answer"),
            ConversationState.toggle_feedback(message.id, 1),
            small=True,
            aria_pressed=rx.cond(message.feedback > 0, "true", "false"),
        ),
        icon_button(
            "thumbs-down",
            tr("bad_answer"),
            ConversationState.toggle_feedback(message.id, -1),
            small=True,
            aria_pressed=rx.cond(message.feedback < 0, "true", "false"),
        ),
    )


def _feedback_comment(message: MessageView) -> rx.Component:
    """After Bad answer: an optional comment, sent with `Send feedback`."""
    return rx.cond(
        ConversationState.feedback_open_id == message.id,
        rx.el.form(
            rx.el.label(
                rx.el.span(tr("feedback_comment"), class_name="field-label"),
                rx.el.textarea(
                    name="comment",
                    placeholder=tr("feedback_comment_hint"),
                    max_length=1000,
                    rows=2,
                    class_name="text-input",
                ),
            ),
            rx.el.div(
                text_button(tr("cancel"), ConversationState.close_feedback),
                text_button(tr("send_feedback"), kind="primary", type="submit"),
                class_name="dialog-actions",
            ),
            on_submit=ConversationState.send_feedback,
            reset_on_submit=True,
            class_name="feedback-form",
        ),
    )


def assistant_message(message: MessageView) -> rx.Component:
    # This tab's last live answer shows how it ended from LiveAnswerState (see state/live_answer.py);
    # while it streams, streaming_message() shows it instead.
    current = message.live & (message.id == LiveAnswerState.live_id)
    status = rx.cond(current, LiveAnswerState.live_status, message.status)
    error = rx.cond(current, LiveAnswerState.live_error, message.error)
    note = rx.cond(current, LiveAnswerState.live_note, message.note)
    parts = rx.cond(current, LiveAnswerState.live_parts, message.parts)
    article = rx.el.article(
        _bot_icon(),
        rx.el.div(
            rx.el.div(
                rx.cond(
                    message.live,
                    buffered_answer(message_id=message.id, finished=True, parts=parts),
                    markdown(message.content),
                ),
                class_name="bubble",
            ),
            rx.cond(status == Status.STOPPED, rx.el.div(tr("stopped"), class_name="message-status")),
            # Being written by another tab or worker: shown as far as it is saved, with Stop.
            rx.cond(
                (status == Status.STREAMING) & ~message.live,
                rx.el.div(tr("answer_in_progress"), class_name="message-status"),
            ),
            # A failed answer keeps what arrived, and says why it ended (also after a reload).
            rx.cond(
                (status == Status.ERROR) & (error != ""),
                rx.el.div(error, class_name="message-status message-error"),
            ),
            rx.cond(note != "", rx.el.div(note, class_name="message-note")),
            rx.el.div(
                # One button or the other: an answer shown from the page's buffer copies from there
                # (a cond inside on_click would run both, writing the clipboard twice).
                rx.cond(
                    message.live,
                    icon_button(
                        "copy", tr("copy_message"), _copy_buffered(message.id), small=True, data_shortcut="copy-answer"
                    ),
                    icon_button(
                        "copy",
                        tr("copy_message"),
                        rx.set_clipboard(message.content),
                        small=True,
                        data_shortcut="copy-answer",
                    ),
                ),
                rx.cond(
                    (message.seq == ConversationState.last_answer_seq) & ~BUSY,
                    icon_button("refresh-cw", tr("regenerate_answer"), ConversationState.regenerate, small=True),
                ),
                rx.cond(status != Status.STREAMING, _feedback_buttons(message)),
                version_switch(message),
                class_name="message-actions",
            ),
            _feedback_comment(message),
            style={"flex": "1", "min_width": "0"},
        ),
        class_name="message",
        data_message_role=Role.ASSISTANT,
    )
    return rx.cond(current & LiveAnswerState.streaming, rx.fragment(), article)


def streaming_message() -> rx.Component:
    """The answer as it arrives: itself an assistant article, busy until it ends."""
    return rx.el.article(
        _bot_icon(),
        rx.el.div(buffered_answer(message_id=LiveAnswerState.live_id, finished=False, parts=0), class_name="bubble"),
        class_name="message",
        data_message_role=Role.ASSISTANT,
        aria_busy="true",
    )


def chat_alert() -> rx.Component:
    return rx.cond(
        ChatState.alert_text != "",
        rx.el.div(
            rx.icon("circle-alert", size=18, aria_hidden="true"),
            rx.el.span(ChatState.alert_text, class_name="alert-text"),
            rx.cond(ChatState.alert_retry, text_button(tr("retry"), ChatState.retry)),
            text_button(tr("dismiss"), ChatState.dismiss_alert),
            role="alert",
            class_name="chat-alert",
        ),
    )


def _message(message: MessageView) -> rx.Component:
    return rx.cond(message.role == Role.USER, user_message(message), assistant_message(message))


def thread() -> rx.Component:
    show_stream = (
        LiveAnswerState.streaming
        & (LiveAnswerState.live_conversation_id == ConversationState.conversation_id)
        & (ConversationState.conversation_id != 0)
    )
    empty = (
        (MessagePageState.messages.length() == 0)
        & (ConversationState.added.length() == 0)
        & ~show_stream
        & ~ConversationState.not_found
    )
    return rx.el.div(
        rx.cond(
            ConversationState.not_found,
            rx.el.div(
                rx.el.h2(tr("conversation_not_found")),
                rx.link(tr("back_to_chat"), href="/chat"),
                class_name="empty-state",
            ),
        ),
        # The page's h1 is the title in the header (pages/chat.py); the greeting sits below it.
        rx.cond(empty, rx.el.div(rx.el.h2(tr("empty_state")), class_name="empty-state")),
        rx.el.div(
            rx.cond(
                MessagePageState.has_earlier,
                rx.el.div(
                    text_button(tr("show_earlier_messages"), ConversationState.show_earlier),
                    class_name="show-earlier",
                ),
            ),
            rx.foreach(MessagePageState.messages, _message),
            rx.foreach(ConversationState.added, _message),
            rx.cond(show_stream, streaming_message()),
            chat_alert(),
            class_name="thread",
        ),
        # Where the page's buffer asks for an answer's whole text (assets/chat.js); never seen.
        rx.el.input(id="live-resync", hidden=True, aria_hidden="true", tab_index=-1, on_change=LiveAnswerState.resync),
        id="chat-scroller",
        class_name="scroller",
    )
