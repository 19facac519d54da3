"""Daily quotas (services/quota.py) in one process: the day boundary, a restart, sixty questions
at once, the per-user limits beating the default, and what the composer says is left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from fabrix_chat import i18n
from fabrix_chat.config import QuotaSettings, Settings
from fabrix_chat.models import UsageRecord, User
from fabrix_chat.repo import quota as quota_repo
from fabrix_chat.services import quota as quota_service
from fabrix_chat.services.quota import Limits, MemoryStore, OverQuota, Quotas, Standing, parse_limit

KST = timezone(timedelta(hours=9))


class Clock:
    """The server's local time, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def defaults(monkeypatch):
    """Set the [quota] defaults: defaults(questions=5, tokens=0)."""

    def use(questions: int = 0, tokens: int = 0) -> None:
        settings = Settings(quota=QuotaSettings(daily_questions=questions, daily_tokens=tokens))
        monkeypatch.setattr(quota_service, "get_settings", lambda: settings)

    use()
    return use


def user(user_id: int = 1, questions: int | None = None, tokens: int | None = None) -> User:
    return User(
        id=user_id,
        username=f"user{user_id}",
        email=f"user{user_id}@example.com",
        password_hash="x",
        daily_question_limit=questions,
        daily_token_limit=tokens,
    )


async def no_usage(_user_id: int, _start: datetime, _end: datetime) -> tuple[int, int]:
    return 0, 0


def quotas(clock: Clock | None = None, usage=no_usage) -> Quotas:
    return Quotas(MemoryStore(), clock=clock or Clock(datetime(2025, 3, 1, 12, 0, tzinfo=KST)), usage=usage)


async def passed(q: Quotas, who: User, n: int, question: str = "hello") -> int:
    """How many of `n` questions sent at once were let through."""
    results = await asyncio.gather(*(q.reserve(who, question) for _ in range(n)), return_exceptions=True)
    assert all(r is None or isinstance(r, (OverQuota, quota_service.Reservation)) for r in results), results
    return sum(isinstance(r, quota_service.Reservation) for r in results)


# --- limits -------------------------------------------------------------------------------------


def test_a_users_own_limit_beats_the_default_and_none_means_the_default(defaults) -> None:
    defaults(questions=20, tokens=50_000)
    assert quota_service.limits_for(user()) == Limits(20, 50_000)
    assert quota_service.limits_for(user(questions=3)) == Limits(3, 50_000)
    assert quota_service.limits_for(user(questions=0, tokens=0)) == Limits(0, 0), "0 of their own: no limit"
    defaults()
    assert not quota_service.limits_for(user()).any, "off by default"
    assert quota_service.limits_for(user(tokens=100)) == Limits(0, 100)


async def test_without_a_limit_nothing_is_counted(defaults) -> None:
    seeds = []

    async def usage(*args):
        seeds.append(args)
        return 0, 0

    q = quotas(usage=usage)
    assert await passed(q, user(), 60) == 60
    assert not (await q.reserve(user(), "hi")).counted and seeds == [], "no counting, no database"
    assert await q.standing(user()) is None
    defaults(questions=5)
    assert await passed(q, user(questions=0), 60) == 60, "0 of their own: no limit, whatever the default"


async def test_the_override_holds_against_a_higher_or_lower_default(defaults) -> None:
    defaults(questions=2)
    q = quotas()
    assert await passed(q, user(1, questions=4), 10) == 4
    assert await passed(q, user(2), 10) == 2


# --- sixty at once ------------------------------------------------------------------------------


async def test_sixty_questions_at_once_pass_a_limit_of_five_only_five_times(defaults) -> None:
    defaults(questions=5)
    seeds = []

    async def slow_usage(*args):
        seeds.append(args)
        await asyncio.sleep(0.05)  # the questions pile up while the day's usage is read
        return 0, 0

    q = quotas(usage=slow_usage)
    assert await passed(q, user(), 60) == 5
    assert len(seeds) == 1, "the usage records are read once for all of them"
    standing = await q.standing(user())
    assert (standing.questions, standing.questions_left) == (5, 0)


async def test_tokens_the_question_estimate_is_held_up_front_and_the_answer_added_at_its_end(defaults) -> None:
    defaults(tokens=100)
    q = quotas()
    question = "x" * 160  # 40 estimated tokens
    first = await q.reserve(user(), question)
    assert first.counted and first.standing.tokens == 40
    await q.charge(1, 30)  # the history sent with it and the answer
    assert (await q.standing(user())).tokens == 70
    with pytest.raises(OverQuota) as refused:
        await q.reserve(user(), question)
    assert str(refused.value) == (
        "This question would go over your daily limit of 100 estimated tokens. The limit resets at 00:00."
    )
    assert (await q.reserve(user(), "short")).standing.tokens == 72, "a smaller one still fits"
    assert await passed(q, user(), 60, question) == 0


async def test_a_question_not_saved_after_all_is_given_back(defaults) -> None:
    defaults(questions=1, tokens=1000)
    q = quotas()
    held = await q.reserve(user(), "x" * 40)
    with pytest.raises(OverQuota):
        await q.reserve(user(), "again")
    back = await q.release(held)
    assert (back.questions, back.tokens) == (0, 0)
    assert (await q.reserve(user(), "again")).counted


async def test_a_changed_limit_reads_the_day_again_from_the_usage_records(defaults) -> None:
    defaults(questions=10)
    used = [(0, 0)]

    async def usage(*_args):
        return used[0]

    q = quotas(usage=usage)
    await q.reserve(user(), "one")
    used[0] = (7, 0)  # asked meanwhile, while no limit applied to them
    await q.forget(1)
    assert (await q.standing(user(questions=8))).questions == 7
    assert await passed(q, user(questions=8), 5) == 1


# --- the day ------------------------------------------------------------------------------------


async def test_the_limit_resets_at_local_midnight(defaults) -> None:
    defaults(questions=2)
    clock = Clock(datetime(2025, 3, 1, 23, 58, tzinfo=KST))
    q = quotas(clock)
    assert await passed(q, user(), 3) == 2
    clock.now = datetime(2025, 3, 1, 23, 59, 59, tzinfo=KST)
    with pytest.raises(OverQuota) as refused:
        await q.reserve(user(), "one more")
    assert str(refused.value) == "You have used your 2 questions for today. The limit resets at 00:00."
    assert refused.value.standing.resets_at == datetime(2025, 3, 2, 0, 0, tzinfo=KST)
    assert (
        i18n.error_text(refused.value, "ko") == "오늘 쓸 수 있는 질문 2개를 모두 썼습니다. 한도는 00:00에 초기화됩니다."
    )
    clock.now = datetime(2025, 3, 2, 0, 0, 1, tzinfo=KST)
    assert await passed(q, user(), 3) == 2, "a new day"


async def test_a_question_of_yesterday_given_back_after_midnight_leaves_today_alone(defaults) -> None:
    defaults(questions=3)
    clock = Clock(datetime(2025, 3, 1, 23, 59, 59, tzinfo=KST))
    q = quotas(clock)
    held = await q.reserve(user(), "late")
    clock.now = datetime(2025, 3, 2, 0, 0, 1, tzinfo=KST)
    await q.reserve(user(), "early")
    await q.release(held)
    assert (await q.standing(user())).questions == 1


def usage_record(session: Session, user_id: int, when: datetime, tokens: int = 10, kind: str = "chat") -> None:
    session.add(
        UsageRecord(
            user_id=user_id,
            username="u",
            kind=kind,
            tokens_in=tokens,
            tokens_out=tokens,
            created_at=when.astimezone(UTC),
        )
    )


async def test_a_restart_does_not_reset_the_count_it_reads_the_days_usage_records(app_db, defaults) -> None:
    defaults(questions=4, tokens=1000)
    now = datetime(2025, 3, 1, 9, 30, tzinfo=KST)  # 00:30 UTC: the local day began yesterday in UTC
    with Session(app_db) as session:
        session.add_all([user(1), user(2)])
        session.flush()
        for hours in (1, 5, 9):  # 08:30, 04:30 and 00:30 local time today
            usage_record(session, 1, now - timedelta(hours=hours))
        usage_record(session, 1, now - timedelta(hours=10))  # 23:30 yesterday
        usage_record(session, 1, now - timedelta(minutes=5), kind="agents")  # the agent list, not a question
        usage_record(session, 2, now - timedelta(minutes=5))  # someone else
        session.commit()
    start = datetime(2025, 3, 1, tzinfo=KST)
    with Session(app_db) as session:
        assert quota_repo.day_usage(session=session, user_id=1, since=start, until=start + timedelta(days=1)) == (3, 60)
    restarted = Quotas(MemoryStore(), clock=Clock(now))  # the real seed: the usage records
    standing = await restarted.standing(user())
    assert (standing.questions, standing.tokens) == (3, 60)
    assert await passed(restarted, user(), 60) == 1


# --- what the composer shows ----------------------------------------------------------------------


def standing(questions: int, used: int, tokens_limit: int = 0, tokens: int = 0) -> Standing:
    return Standing(Limits(questions, tokens_limit), used, tokens, datetime(2025, 3, 2, tzinfo=KST))


def test_what_is_left_is_shown_once_less_than_ten_percent_remains() -> None:
    assert standing(40, 30).note("en") == "", "plenty left"
    assert standing(40, 37).note("en") == "3 questions left today"
    assert standing(40, 37).note("ko") == "오늘 남은 질문 3개"
    assert standing(2, 1).note("en") == "1 question left today", "the last one is always said"
    assert standing(2, 0).note("en") == ""
    assert standing(2, 2).note("en") == "No questions left today (the limit resets at 00:00)"
    assert standing(0, 500, 10_000, 9_500).note("en") == "About 500 tokens left today"
    assert standing(40, 39, 10_000, 10_000).note("en") == (
        "1 question left today · No tokens left today (the limit resets at 00:00)"
    )


# --- what an administrator types --------------------------------------------------------------------


def test_a_typed_limit_is_empty_or_a_whole_number_in_range() -> None:
    assert parse_limit("", "questions") is None
    assert parse_limit("  ", "questions") is None
    assert parse_limit(" 20 ", "questions") == 20
    assert parse_limit("0", "questions") == 0
    assert parse_limit("1,000,000", "questions") == 1_000_000
    assert parse_limit("1000000000", "tokens") == 1_000_000_000
    for odd in ("-1", "abc", "1.5", "1e3", "１２", "1000001", "9" * 40, None, ["3"], {"v": 3}, 3):
        with pytest.raises(i18n.KeyedError) as refused:
            parse_limit(odd, "questions")
        assert "whole number from 0 (no limit) to 1,000,000" in str(refused.value), odd
    with pytest.raises(i18n.KeyedError):
        parse_limit("1000000001", "tokens")
