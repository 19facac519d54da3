"""Building blocks shared by the admin page's tabs: tables, panels and result lines."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.common import text_button
from fabrix_chat.state.ui import tr


def data_table(
    caption: rx.Var | str, headers: list[str], rows: rx.Var, render_row, *, empty_key: str = ""
) -> rx.Component:
    """A table with a caption (its accessible name, also its scroller's) and one row per item of `rows`.

    `headers` are i18n keys; `render_row(item)` returns the <td> cells of one row.
    """
    return rx.el.div(
        rx.el.table(
            rx.el.caption(caption),
            rx.el.thead(rx.el.tr(*[rx.el.th(tr(key), scope="col") for key in headers])),
            rx.el.tbody(rx.foreach(rows, lambda item: rx.el.tr(*render_row(item)))),
            class_name="admin-table",
        ),
        rx.cond(rows.length() == 0, rx.el.p(tr(empty_key), class_name="admin-empty")) if empty_key else rx.fragment(),
        # A wide table scrolls sideways on a narrow screen: its scroller is a named region and a tab
        # stop, so it can be scrolled from the keyboard too.
        role="region",
        aria_label=caption,
        tab_index=0,
        class_name="admin-table-wrap",
    )


def panel(title: rx.Var | str, *children: rx.Component, **props) -> rx.Component:
    """A titled section of a tab."""
    class_name = f"admin-panel {props.pop('class_name', '')}".strip()
    return rx.el.section(rx.el.h2(title, class_name="admin-panel-title"), *children, class_name=class_name, **props)


def result_line(text: rx.Var) -> rx.Component:
    """The outcome of a maintenance action, announced politely to screen readers."""
    return rx.cond(text != "", rx.el.p(text, role="status", class_name="admin-result"))


def labelled_select(label: rx.Var | str, options: list[rx.Component] | rx.Component, **props) -> rx.Component:
    """A native <select> inside its <label>, so the label is its accessible name."""
    children = options if isinstance(options, list) else [options]
    return rx.el.label(
        rx.el.span(label, class_name="field-label"),
        rx.el.select(*children, class_name="text-input admin-select", **props),
        class_name="admin-field",
    )


def refresh_button(handler) -> rx.Component:
    """`Refresh`, for a tab whose figures change while it is open."""
    return text_button(rx.fragment(rx.icon("refresh-cw", size=14, aria_hidden="true"), tr("admin_refresh")), handler)
