"""Answers as markdown: GFM tables, highlighted code with a copy button, and never raw HTML.

Reflex's markdown turns rehype-raw on by default, which would render (and run) HTML from an
answer; use_raw=False makes react-markdown show such HTML as text. Link URLs go through
react-markdown's default URL filter, which drops javascript: and other unsafe schemes.
"""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button
from fabrix_chat.state.ui import tr


def _code_block(text, **props) -> rx.Component:
    return rx.el.div(
        icon_button("copy", tr("copy_code"), rx.set_clipboard(text), small=True, class_name="code-copy"),
        rx.code_block(text, wrap_long_lines=False, show_line_numbers=False, **props),
        class_name="code-wrap",
    )


@rx.memo
def markdown_view(content: rx.Var[str]) -> rx.Component:
    """A React component of its own: its component map uses hooks, and messages are rendered in a
    loop, where hooks called directly would change in number as the list grows."""
    return rx.markdown(
        content,
        use_raw=False,
        component_map={"pre": _code_block},
        class_name="markdown-body",
    )


def markdown(text: rx.Var) -> rx.Component:
    return markdown_view(content=text)
