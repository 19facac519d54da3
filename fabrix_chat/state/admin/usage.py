"""The Usage tab: 30 days by user, agent and day, and the rate limiter's gauge
(components/admin/usage.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, ClassVar

import reflex as rx

from fabrix_chat.db import run_db
from fabrix_chat.models import User, utcnow
from fabrix_chat.repo import usage as usage_repo
from fabrix_chat.services import audit
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services.audit import Action
from fabrix_chat.state.admin.base import NOT_SET, AdminState, admin_only, local_time

USAGE_DAYS = 30
EXPORT_MAX_DAYS = 366
FEEDBACK_COMMENTS = 20  # the newest Bad answer comments shown


@dataclasses.dataclass
class UsageRow:
    key: str = ""
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    errors: int = 0
    avg_latency_ms: int = 0


@dataclasses.dataclass
class Gauge:
    """The rate limiter's current one-minute window."""

    rpm_used: int = 0
    rpm_limit: int = 0
    rpm_remaining: int = 0
    rpm_percent: int = 0
    tpm_used: int = 0
    tpm_limit: int = 0
    tpm_remaining: int = 0
    tpm_percent: int = 0
    waiting: int = 0
    wait_seconds: str = "0.0"
    backend: str = "memory"
    taken_at: str = ""


@dataclasses.dataclass
class FeedbackRow:
    agent: str = ""
    good: int = 0
    bad: int = 0


@dataclasses.dataclass
class FeedbackComment:
    comment: str = ""
    username: str = ""
    when: str = ""
    conversation_id: int = 0
    title: str = ""


@dataclasses.dataclass
class GaugeUser:
    username: str = ""
    requests: int = 0
    tokens: int = 0


def server_utc_offset_minutes() -> int:
    """The server's offset from UTC now (+540 in Korea): usage days follow the server's calendar."""
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def day_chart(rows: list[dict[str, Any]], days: int, today: datetime | None = None) -> list[dict[str, Any]]:
    """One point per day of the last `days` days, oldest first, days without use at zero."""
    by_day = {str(r["key"]): r for r in rows}
    today = today or datetime.now().astimezone()
    points = []
    for back in range(days - 1, -1, -1):
        day = (today - timedelta(days=back)).strftime("%Y-%m-%d")
        row = by_day.get(day, {})
        points.append({"day": day[5:], "requests": int(row.get("requests", 0)), "errors": int(row.get("errors", 0))})
    return points


def usage_rows(rows: list[dict[str, Any]]) -> list[UsageRow]:
    return [
        UsageRow(
            key=str(r["key"] or NOT_SET),
            requests=r["requests"],
            tokens_in=r["tokens_in"],
            tokens_out=r["tokens_out"],
            errors=r["errors"],
            avg_latency_ms=r["avg_latency_ms"],
        )
        for r in rows
    ]


def percent(used: int, limit: int) -> int:
    return min(100, round(used * 100 / limit)) if limit > 0 else 0


class AdminUsageState(AdminState):
    TAB: ClassVar[str] = "usage"

    usage_by_user: list[UsageRow] = []
    usage_by_agent: list[UsageRow] = []
    usage_by_day: list[UsageRow] = []
    usage_chart: list[dict[str, Any]] = []
    gauge: Gauge = Gauge()
    gauge_users: list[GaugeUser] = []
    feedback_by_agent: list[FeedbackRow] = []
    feedback_comments: list[FeedbackComment] = []

    async def _load(self) -> None:
        offset = server_utc_offset_minutes()
        by_user = await run_db(usage_repo.usage_totals, group_by="user", days=USAGE_DAYS, tz_offset_minutes=offset)
        by_agent = await run_db(usage_repo.usage_totals, group_by="agent", days=USAGE_DAYS, tz_offset_minutes=offset)
        by_day = await run_db(usage_repo.usage_totals, group_by="day", days=USAGE_DAYS, tz_offset_minutes=offset)
        self.usage_by_user = usage_rows(by_user)
        self.usage_by_agent = usage_rows(by_agent)
        self.usage_by_day = usage_rows(list(reversed(by_day)))
        self.usage_chart = day_chart(by_day, USAGE_DAYS)
        verdicts = await run_db(usage_repo.feedback_by_agent, days=USAGE_DAYS)
        self.feedback_by_agent = [
            FeedbackRow(agent=r["agent"] or NOT_SET, good=r["good"], bad=r["bad"]) for r in verdicts
        ]
        comments = await run_db(usage_repo.recent_feedback_comments, limit=FEEDBACK_COMMENTS)
        self.feedback_comments = [
            FeedbackComment(
                comment=c["comment"],
                username=c["username"],
                when=local_time(c["at"]),
                conversation_id=c["conversation_id"],
                title=c["title"] or self._t("new_chat"),
            )
            for c in comments
        ]
        await self._load_gauge()

    async def _load_gauge(self) -> None:
        snap = await chat_service.get_limiter().snapshot()
        self.gauge = Gauge(
            rpm_used=snap.rpm_used,
            rpm_limit=snap.rpm_limit,
            rpm_remaining=snap.rpm_remaining,
            rpm_percent=percent(snap.rpm_used, snap.rpm_limit),
            tpm_used=snap.tpm_used,
            tpm_limit=snap.tpm_limit,
            tpm_remaining=snap.tpm_remaining,
            tpm_percent=percent(snap.tpm_used, snap.tpm_limit),
            waiting=snap.waiting,
            wait_seconds=f"{snap.current_wait_seconds:.1f}",
            backend=snap.backend,
            taken_at=datetime.now().strftime("%H:%M:%S"),
        )
        self.gauge_users = [
            GaugeUser(username=name, requests=figures.get("requests", 0), tokens=figures.get("tokens", 0))
            for name, figures in sorted(snap.per_user.items())
        ]

    @admin_only
    async def refresh_usage(self, admin: User):
        await self._load()

    @admin_only
    async def export_usage(self, admin: User, form: dict):
        """`Export CSV`: per day, user and agent, the totals from From to To (days, server time;
        the last 30 days when empty)."""
        from fabrix_chat.state.admin.audit import day_start

        form = form if isinstance(form, dict) else {}
        until = day_start(form.get("to"), next_day=True) or utcnow()
        since = day_start(form.get("from")) or until - timedelta(days=USAGE_DAYS)
        if since >= until or until - since > timedelta(days=EXPORT_MAX_DAYS):
            self._say(error=self._t("usage_export_range", days=EXPORT_MAX_DAYS))
            return None
        rows = await run_db(
            usage_repo.daily_totals, since=since, until=until, tz_offset_minutes=server_utc_offset_minutes()
        )
        await audit.note(Action.USAGE_EXPORT, actor=admin.username, client=self._client(), detail=f"{len(rows)} rows")
        self._say()
        name = f"usage-{since.astimezone():%Y%m%d}-{(until - timedelta(seconds=1)).astimezone():%Y%m%d}.csv"
        return rx.download(data=usage_repo.daily_totals_csv(rows), filename=name)
