"""`Share chat`: the owner's dialog (Copy link, Stop sharing) and the shared copy's thread."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button, text_button
from fabrix_chat.components.markdown import markdown
from fabrix_chat.models import Role
from fabrix_chat.state.share import SharedMessageView, ShareState
from fabrix_chat.state.ui import tr

# The link as the browser shows it: this page's origin and the share's path.
ORIGIN = rx.Var("(typeof window !== 'undefined' ? window.location.origin : '')").to(str)


def share_button() -> rx.Component:
    return icon_button("share-2", tr("share_chat"), ShareState.open_share, class_name="header-action")


def share_dialog() -> rx.Component:
    shared = ShareState.share_path != ""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(tr("share_chat")),
            rx.dialog.description(tr("share_explain"), class_name="dialog-text"),
            rx.cond(
                shared,
                rx.el.label(
                    rx.el.span(tr("share_link"), class_name="field-label"),
                    rx.el.input(
                        value=ORIGIN + ShareState.share_path, read_only=True, class_name="text-input share-link"
                    ),
                ),
            ),
            rx.cond(ShareState.share_copied, rx.el.p(tr("share_copied"), role="status", class_name="dialog-text")),
            rx.el.div(
                rx.cond(shared, text_button(tr("stop_sharing"), ShareState.stop_sharing, kind="danger")),
                rx.dialog.close(text_button(tr("close"))),
                text_button(tr("copy_link"), ShareState.copy_link, kind="primary"),
                class_name="dialog-actions",
            ),
            class_name="dialog-card",
        ),
        open=ShareState.share_open,
        on_open_change=ShareState.set_share_open,
    )


def shared_message(message: SharedMessageView) -> rx.Component:
    """A message of the copy, shown as the chat shows it: questions as text, answers as markdown
    (never raw HTML, never anything loaded from elsewhere: components/markdown.py)."""
    attachment = rx.cond(
        message.attachment_name != "",
        rx.el.div(
            rx.icon("paperclip", size=14, aria_hidden="true"),
            rx.el.span(message.attachment_name, class_name="attachment-name"),
            class_name="attachment",
            role="group",
            aria_label=tr("attached_file"),
        ),
    )
    return rx.cond(
        message.role == Role.USER,
        rx.el.article(
            rx.el.div(
                rx.el.div(attachment, rx.el.div(message.content), class_name="bubble"), style={"max_width": "85%"}
            ),
            class_name="message",
            data_message_role=Role.USER,
        ),
        rx.el.article(
            rx.el.div(rx.icon("sparkles", size=16, aria_hidden="true"), class_name="bot-icon", aria_hidden="true"),
            rx.el.div(rx.el.div(markdown(message.content), class_name="bubble"), style={"flex": "1", "min_width": "0"}),
            class_name="message",
            data_message_role=Role.ASSISTANT,
        ),
    )
