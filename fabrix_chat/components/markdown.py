"""Answers as markdown: GFM tables, highlighted code with a copy button, and never raw HTML.

Answers are untrusted text. Reflex's markdown turns rehype-raw on by default, which would
render (and run) HTML from an answer; use_raw=False makes react-markdown show such HTML as
text. react-markdown's URL filter empties javascript: and other unsafe link targets; links are
then rendered as anchors only for http(s) and mailto targets (anything else is plain text, so
nothing from an answer can be clicked into running script), opening in a new tab. Images are
links too, never loaded; web.py's Content-Security-Policy stops anything else from loading.
"""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import icon_button
from fabrix_chat.state.ui import tr

# Inside a component-map function, `props` holds the element's attributes from react-markdown.
_HREF = rx.Var("(props.href || '')").to(str)
_SAFE_HREF = rx.Var("/^(https?:|mailto:)/i.test(props.href || '')").to(bool)
_SRC = rx.Var("(props.src || '')").to(str)
_ALT = rx.Var("(props.alt || props.src || '')").to(str)
_SAFE_SRC = rx.Var("/^https?:/i.test(props.src || '')").to(bool)


def _code_block(text, **props) -> rx.Component:
    """Highlighted code that scrolls sideways, so it is a keyboard stop (a named group) of its own.

    The token colours are classes styled by assets/styles.css (`useInlineStyles: false`), where the
    light and dark palettes are checked for contrast; the Prism themes' inline colours are not.
    """
    return rx.el.div(
        icon_button("copy", tr("copy_code"), rx.set_clipboard(text), small=True, class_name="code-copy"),
        rx.code_block(
            text,
            wrap_long_lines=False,
            show_line_numbers=False,
            class_name="code-block",
            code_tag_props={},
            custom_attrs={"useInlineStyles": False, "tabIndex": 0, "role": "group", "aria-label": tr("code_block")},
            **props,
        ),
        class_name="code-wrap",
    )


def _safe_anchor(label, href: rx.Var, safe: rx.Var[bool], class_name: str) -> rx.Component:
    """A link to `href` when `safe` (opening in a new tab, no access to this page), else plain text."""
    return rx.el.span(
        rx.cond(
            safe,
            rx.el.a(label, href=href, target="_blank", rel="noopener noreferrer nofollow"),
            rx.el.span(label, class_name="unsafe-link"),
        ),
        class_name=class_name,
    )


def _link(text, **_props) -> rx.Component:
    return _safe_anchor(text, _HREF, _SAFE_HREF, "md-link")


def _image(*_children, **_props) -> rx.Component:
    """An image in an answer is never loaded: fetching it would tell another server whatever the
    answer put in its address, the moment it shows. It becomes a link the user may choose to open."""
    return _safe_anchor(rx.el.span(tr("answer_image"), " ", _ALT), _SRC, _SAFE_SRC, "md-link md-image")


@rx.memo
def markdown_view(content: rx.Var[str]) -> rx.Component:
    """A React component of its own: its component map uses hooks, and messages are rendered in a
    loop, where hooks called directly would change in number as the list grows."""
    return rx.markdown(
        content,
        use_raw=False,
        component_map={"pre": _code_block, "a": _link, "img": _image},
        class_name="markdown-body",
    )


def markdown(text: rx.Var) -> rx.Component:
    return markdown_view(content=text)
