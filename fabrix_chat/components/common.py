"""Small building blocks shared by every page."""

from __future__ import annotations

import reflex as rx


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
    if on_click is not None:
        props["on_click"] = on_click
    return rx.el.button(label, type=props.pop("type", "button"), class_name=f"button {kind}".strip(), **props)


def labelled_input(label: rx.Var | str, name: str, *, type_: str = "text", **props) -> rx.Component:
    """A text field inside its <label>, so the label is its accessible name."""
    return rx.el.label(
        rx.el.span(label),
        rx.el.input(name=name, type=type_, class_name="text-input", **props),
    )
