"""Small building blocks shared by every page."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.state.ui import UIState, tr


def icon_button(icon: str, label: rx.Var | str, on_click=None, *, small: bool = False, **props) -> rx.Component:
    """An icon-only button; `label` is its accessible name and tooltip."""
    class_name = "icon-button small" if small else "icon-button"
    if extra := props.pop("class_name", ""):
        class_name = f"{class_name} {extra}"
    if on_click is not None:
        props["on_click"] = on_click
    return rx.el.button(
        rx.icon(icon, size=16 if small else 18, aria_hidden="true"),
        aria_label=label,
        title=label,
        type=props.pop("type", "button"),
        class_name=class_name,
        **props,
    )


def text_button(label: rx.Var | str, on_click=None, *, kind: str = "", **props) -> rx.Component:
    """A button with visible text; `kind` is "", "primary" or "danger"."""
    if on_click is not None:
        props["on_click"] = on_click
    return rx.el.button(label, type=props.pop("type", "button"), class_name=f"button {kind}".strip(), **props)


def labelled_input(label: rx.Var | str, name: str, *, type_: str = "text", **props) -> rx.Component:
    """A text field inside its <label>, so the label is its accessible name."""
    return rx.el.label(
        rx.el.span(label),
        rx.el.input(name=name, type=type_, class_name="text-input", **props),
    )


def password_input(label: rx.Var | str, name: str, *, new: bool, max_length: int) -> rx.Component:
    """A required password field; `new` for one being chosen (the browser may suggest one)."""
    return labelled_input(
        label,
        name,
        type_="password",
        auto_complete="new-password" if new else "current-password",
        required=True,
        max_length=max_length,
    )


def language_button() -> rx.Component:
    """Switches English <-> Korean; shows the other language's name, written in that language."""
    return rx.el.button(
        rx.icon("languages", size=16, aria_hidden="true"),
        rx.el.span(UIState.next_lang_name, lang=rx.cond(UIState.lang == "ko", "en", "ko")),
        aria_label=tr("language") + ": " + UIState.next_lang_name,
        title=tr("language"),
        type="button",
        on_click=UIState.switch_lang,
        class_name="pill-button",
    )


def theme_button() -> rx.Component:
    """Light <-> dark theme (Reflex puts the class "light" or "dark" on <html>)."""
    return rx.el.button(
        rx.color_mode_cond(
            light=rx.icon("moon", size=16, aria_hidden="true"),
            dark=rx.icon("sun", size=16, aria_hidden="true"),
        ),
        aria_label=tr("toggle_theme"),
        title=tr("toggle_theme"),
        type="button",
        on_click=rx.toggle_color_mode,
        class_name="icon-button small",
    )


def auth_layout(card: rx.Component) -> rx.Component:
    """The frame of /login and /signup: brand, the form card, and language and theme switches."""
    return rx.el.main(
        rx.el.div(language_button(), theme_button(), class_name="auth-corner"),
        rx.el.div(
            rx.el.div(
                rx.el.div(rx.icon("sparkles", size=20, aria_hidden="true"), class_name="brand-mark"),
                rx.el.span(tr("app_name")),
                class_name="auth-brand",
            ),
            card,
            class_name="auth-column",
        ),
        class_name="auth-page",
    )
