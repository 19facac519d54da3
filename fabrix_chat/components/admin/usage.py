"""Admin page, Usage tab: the rate-limit gauge, requests per day as a chart, totals per user, agent and day."""

from __future__ import annotations

import reflex as rx

from fabrix_chat.components.admin.common import data_table, panel, refresh_button
from fabrix_chat.components.common import text_button
from fabrix_chat.state.admin.conversations import AdminConversationsState
from fabrix_chat.state.admin.usage import AdminUsageState, FeedbackComment, FeedbackRow, GaugeUser, UsageRow
from fabrix_chat.state.ui import tr

# SVG fill attributes cannot read CSS variables: the primary and error colours of styles.css.
BAR_COLOR = "#2563eb"
ERROR_BAR_COLOR = "#ef4444"

USAGE_COLUMNS = [
    "admin_col_requests",
    "admin_col_tokens_in",
    "admin_col_tokens_out",
    "admin_col_errors",
    "admin_col_latency",
]


def _usage_cells(row: UsageRow) -> list[rx.Component]:
    return [
        rx.el.td(row.key, class_name="admin-strong"),
        rx.el.td(row.requests, class_name="admin-number"),
        rx.el.td(row.tokens_in, class_name="admin-number"),
        rx.el.td(row.tokens_out, class_name="admin-number"),
        rx.el.td(row.errors, class_name="admin-number"),
        rx.el.td(row.avg_latency_ms, class_name="admin-number"),
    ]


def _meter(label_key: str, used: rx.Var, limit: rx.Var, remaining: rx.Var, pct: rx.Var) -> rx.Component:
    return rx.el.div(
        rx.el.div(
            rx.el.span(tr(label_key), class_name="admin-strong"),
            rx.el.span(used, " / ", limit, " · ", remaining, " ", tr("admin_remaining")),
            class_name="admin-meter-head",
        ),
        rx.el.progress(value=used, max=limit, aria_label=tr(label_key), class_name="admin-meter"),
        class_name="admin-meter-wrap",
        data_level=rx.cond(pct >= 90, "high", rx.cond(pct >= 70, "mid", "low")),
    )


def _gauge_user(row: GaugeUser) -> list[rx.Component]:
    return [
        rx.el.td(row.username),
        rx.el.td(row.requests, class_name="admin-number"),
        rx.el.td(row.tokens, class_name="admin-number"),
    ]


def rate_gauge() -> rx.Component:
    gauge = AdminUsageState.gauge
    return panel(
        tr("admin_rate_limit"),
        rx.el.div(
            _meter("admin_rpm", gauge.rpm_used, gauge.rpm_limit, gauge.rpm_remaining, gauge.rpm_percent),
            _meter("admin_tpm", gauge.tpm_used, gauge.tpm_limit, gauge.tpm_remaining, gauge.tpm_percent),
            class_name="admin-meters",
        ),
        rx.el.dl(
            rx.el.dt(tr("admin_current_wait")),
            rx.el.dd(gauge.wait_seconds, " ", tr("unit_seconds")),
            rx.el.dt(tr("admin_waiting")),
            rx.el.dd(gauge.waiting),
            rx.el.dt(tr("admin_limiter_backend")),
            rx.el.dd(gauge.backend),
            rx.el.dt(tr("admin_updated_at")),
            rx.el.dd(gauge.taken_at),
            class_name="admin-facts",
        ),
        rx.cond(
            AdminUsageState.gauge_users.length() > 0,
            data_table(
                tr("admin_window_users"),
                ["admin_col_user", "admin_col_requests", "admin_col_tokens"],
                AdminUsageState.gauge_users,
                _gauge_user,
            ),
        ),
        refresh_button(AdminUsageState.refresh_usage),
    )


def requests_chart() -> rx.Component:
    return panel(
        tr("admin_requests_per_day"),
        rx.el.figure(
            rx.recharts.bar_chart(
                rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
                rx.recharts.x_axis(data_key="day", tick_line=False, interval="preserveStartEnd"),
                rx.recharts.y_axis(allow_decimals=False, width=40),
                rx.recharts.graphing_tooltip(),
                rx.recharts.bar(data_key="requests", fill=BAR_COLOR, name=tr("admin_col_requests")),
                rx.recharts.bar(data_key="errors", fill=ERROR_BAR_COLOR, name=tr("admin_col_errors")),
                data=AdminUsageState.usage_chart,
                width="100%",
                height=240,
                # Recharts' keyboard layer makes the chart a tab stop, which a hidden figure must not have.
                custom_attrs={"accessibilityLayer": False},
            ),
            # The chart is a picture of the per-day table below, which screen readers and keyboards use instead.
            aria_hidden="true",
            class_name="admin-chart",
        ),
    )


def _feedback_cells(row: FeedbackRow) -> list[rx.Component]:
    return [
        rx.el.td(row.agent),
        rx.el.td(row.good, class_name="admin-number"),
        rx.el.td(row.bad, class_name="admin-number"),
    ]


def _comment_cells(row: FeedbackComment) -> list[rx.Component]:
    return [
        rx.el.td(row.when, class_name="admin-nowrap"),
        rx.el.td(row.username),
        rx.el.td(row.comment, class_name="admin-log-message"),
        rx.el.td(
            text_button(tr("admin_open"), AdminConversationsState.open_conversation(row.conversation_id), kind="small"),
            aria_label=row.title,
        ),
    ]


def feedback_panel() -> rx.Component:
    """Good and bad verdicts per agent, and the newest comments with a link to their conversation."""
    return panel(
        tr("admin_feedback"),
        data_table(
            tr("admin_feedback_per_agent"),
            ["agent", "admin_col_good", "admin_col_bad"],
            AdminUsageState.feedback_by_agent,
            _feedback_cells,
            empty_key="admin_no_feedback",
        ),
        data_table(
            tr("admin_feedback_comments"),
            ["admin_col_when", "admin_col_user", "feedback_comment", "admin_col_actions"],
            AdminUsageState.feedback_comments,
            _comment_cells,
            empty_key="admin_no_feedback",
        ),
    )


def export_form() -> rx.Component:
    """`Export CSV` of the totals per day, user and agent for a chosen range (the last 30 days
    when both dates are empty)."""

    def day(label: str, name: str) -> rx.Component:
        return rx.el.label(
            rx.el.span(tr(label), class_name="field-label"),
            rx.el.input(name=name, type="date", class_name="text-input"),
            class_name="admin-field",
        )

    return panel(
        tr("usage_export_title"),
        rx.el.form(
            day("audit_from", "from"),
            day("audit_to", "to"),
            text_button(tr("export_csv"), kind="primary", type="submit"),
            on_submit=AdminUsageState.export_usage,
            class_name="admin-form-row",
        ),
    )


def usage_tab() -> rx.Component:
    return rx.el.div(
        rate_gauge(),
        export_form(),
        requests_chart(),
        rx.el.p(tr("admin_last_days"), class_name="admin-muted"),
        data_table(
            tr("admin_usage_per_user"),
            ["admin_col_user", *USAGE_COLUMNS],
            AdminUsageState.usage_by_user,
            _usage_cells,
            empty_key="admin_no_usage",
        ),
        data_table(
            tr("admin_usage_per_agent"),
            ["agent", *USAGE_COLUMNS],
            AdminUsageState.usage_by_agent,
            _usage_cells,
            empty_key="admin_no_usage",
        ),
        data_table(
            tr("admin_usage_per_day"),
            ["admin_col_day", *USAGE_COLUMNS],
            AdminUsageState.usage_by_day,
            _usage_cells,
            empty_key="admin_no_usage",
        ),
        feedback_panel(),
        class_name="admin-tab-body",
    )
