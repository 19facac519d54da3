"""Per-user daily limits on questions and estimated tokens: `[quota]` in secrets.toml is the
default (0: no limit, the default), and an administrator may give a user limits of their own
on the Users tab (User.daily_question_limit / daily_token_limit; None: the default, 0: none).

The day is the server's local calendar day; the limits reset at the next local midnight.
`reserve()` checks and counts one question and its own estimated tokens in one step, before the
question is saved, so sixty questions sent at once cannot pass a limit of five; `release()`
gives them back when the question was not saved after all, and `charge()` adds the rest of the
answer's tokens (the history sent with it, and the answer) when it ends. A question is refused
when the day's questions are used up, or when its own estimate would take the day's tokens over
the limit (the answer itself may still end a little over it: its size is known only at the end).

The counters live in this process, seeded from the day's usage records at the user's first
question of the day (so a restart does not reset them), or in Redis when `[rate_limit]
redis_url` is set (atomic Lua scripts), so every worker shares them. If Redis stops answering,
counting goes on in this process with a warning, as the sign-in slow-downs do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Literal, Protocol

from redis.exceptions import RedisError

from fabrix_chat import i18n
from fabrix_chat.config import QuotaSettings, get_settings
from fabrix_chat.db import run_db
from fabrix_chat.models import User
from fabrix_chat.repo import quota as quota_repo
from fabrix_chat.services.chat import estimate_tokens

log = logging.getLogger(__name__)

# The largest limit an administrator may give one user (the [quota] section allows the same).
MAX_LIMIT: dict[quota_repo.LimitKind, int] = {"questions": 1_000_000, "tokens": 1_000_000_000}
# A day's Redis counter outlives the day by a day (answers that end after midnight still find it).
REDIS_KEY_TTL_SECONDS = 2 * 24 * 3600
SEED_REUSE_SECONDS = 5.0  # a finished read of the usage records serves the questions that came with it

Outcome = Literal["ok", "questions", "tokens"]
Seed = Callable[[], Awaitable[tuple[int, int]]]


# --- limits and what is left of them ----------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """One user's daily limits; 0 is no limit."""

    questions: int = 0
    tokens: int = 0

    @property
    def any(self) -> bool:
        return self.questions > 0 or self.tokens > 0


def defaults() -> QuotaSettings:
    """The `[quota]` section: the limits of users without their own."""
    return get_settings().quota


def limits_for(user: User) -> Limits:
    """The user's own limits where an administrator set them, else the `[quota]` defaults."""
    default = defaults()
    questions = user.daily_question_limit
    tokens = user.daily_token_limit
    return Limits(
        questions=max(default.daily_questions if questions is None else questions, 0),
        tokens=max(default.daily_tokens if tokens is None else tokens, 0),
    )


def quotas_on(*, any_override: bool) -> bool:
    """Whether quotas are in use at all: a default above 0, or a user with limits of their own."""
    default = defaults()
    return default.daily_questions > 0 or default.daily_tokens > 0 or any_override


def running_low(left: int, limit: int) -> bool:
    """Less than 10 % of the limit is left, or at most one question's worth of it."""
    return limit > 0 and (left * 10 < limit or left <= 1)


@dataclass(frozen=True)
class Standing:
    """A user's day so far against their limits."""

    limits: Limits
    questions: int  # asked today (a reserved question included)
    tokens: int  # estimated tokens used today
    resets_at: datetime  # the next local midnight

    @property
    def questions_left(self) -> int | None:
        """None: no limit."""
        return max(self.limits.questions - self.questions, 0) if self.limits.questions else None

    @property
    def tokens_left(self) -> int | None:
        return max(self.limits.tokens - self.tokens, 0) if self.limits.tokens else None

    @property
    def reset_time(self) -> str:
        return self.resets_at.strftime("%H:%M")

    def note(self, lang: str) -> str:
        """What the composer shows when less than 10 % of a limit is left ("3 questions left
        today"); "" otherwise."""
        parts = []
        left = self.questions_left
        if left is not None and running_low(left, self.limits.questions):
            if left == 0:
                parts.append(i18n.t("quota_questions_none", lang, time=self.reset_time))
            elif left == 1:
                parts.append(i18n.t("quota_question_left_one", lang))
            else:
                parts.append(i18n.t("quota_questions_left", lang, count=left))
        left = self.tokens_left
        if left is not None and running_low(left, self.limits.tokens):
            if left == 0:
                parts.append(i18n.t("quota_tokens_none", lang, time=self.reset_time))
            else:
                parts.append(i18n.t("quota_tokens_left", lang, count=f"{left:,}"))
        return " · ".join(parts)


class OverQuota(i18n.KeyedError):
    """A question refused by a daily limit: nothing was saved, nothing sent to FabriX."""

    def __init__(self, key: str, standing: Standing, **values: object) -> None:
        super().__init__(key, time=standing.reset_time, **values)
        self.standing = standing


@dataclass(frozen=True)
class Reservation:
    """A question counted against the day (`counted` False: no limit applies, nothing was counted)."""

    user_id: int
    day: date
    tokens: int
    counted: bool
    standing: Standing | None = None  # None when no limit applies


# --- parsing what an administrator typed ----------------------------------------------------------


def parse_limit(value: object, kind: quota_repo.LimitKind) -> int | None:
    """A limit typed on the Users tab: empty is None (the default), else a whole number from 0
    (no limit) to MAX_LIMIT; anything else raises KeyedError. Thousands separators are allowed."""
    text = value.strip().replace(",", "").replace("_", "") if isinstance(value, str) else None
    if text == "":
        return None
    if text is None or len(text) > 12 or not (text.isascii() and text.isdigit()) or int(text) > MAX_LIMIT[kind]:
        raise i18n.KeyedError("admin_limit_invalid", max=f"{MAX_LIMIT[kind]:,}")
    return int(text)


# --- where the counts are kept --------------------------------------------------------------------


class Store(Protocol):
    async def reserve(
        self, day: str, user_id: int, limits: Limits, tokens: int, seed: Seed
    ) -> tuple[Outcome, int, int]: ...
    async def read(self, day: str, user_id: int, seed: Seed) -> tuple[int, int]: ...
    async def release(self, day: str, user_id: int, tokens: int) -> tuple[int, int] | None: ...
    async def charge(self, day: str, user_id: int, tokens: int) -> None: ...
    async def forget(self, day: str, user_id: int) -> None: ...


class MemoryStore:
    """One process's counts, for the current day only. Checking and counting a question happen
    with no await in between, so they are atomic on the event loop."""

    def __init__(self) -> None:
        self._day = ""
        self._counts: dict[int, list[int]] = {}  # user id -> [questions, tokens]

    def _today(self, day: str) -> dict[int, list[int]]:
        if day > self._day:  # a new day: yesterday's counts are of no use
            self._day, self._counts = day, {}
        return self._counts if day == self._day else {}  # a day gone by: nothing to change

    async def _counter(self, day: str, user_id: int, seed: Seed) -> list[int]:
        counts = self._today(day).get(user_id)
        if counts is not None:
            return counts
        questions, tokens = await seed()
        # The first to get here keeps its counter; the others count on in it.
        return self._today(day).setdefault(user_id, [questions, tokens])

    async def reserve(
        self, day: str, user_id: int, limits: Limits, tokens: int, seed: Seed
    ) -> tuple[Outcome, int, int]:
        counts = await self._counter(day, user_id, seed)
        # From here to the return there is no await: nothing else runs in between.
        questions, used = counts
        if limits.questions and questions >= limits.questions:
            return "questions", questions, used
        if limits.tokens and used + tokens > limits.tokens:
            return "tokens", questions, used
        counts[0], counts[1] = questions + 1, used + tokens
        return "ok", counts[0], counts[1]

    async def read(self, day: str, user_id: int, seed: Seed) -> tuple[int, int]:
        questions, used = await self._counter(day, user_id, seed)
        return questions, used

    async def release(self, day: str, user_id: int, tokens: int) -> tuple[int, int] | None:
        counts = self._today(day).get(user_id)
        if counts is None:
            return None
        counts[0], counts[1] = max(counts[0] - 1, 0), max(counts[1] - tokens, 0)
        return counts[0], counts[1]

    async def charge(self, day: str, user_id: int, tokens: int) -> None:
        counts = self._today(day).get(user_id)
        if counts is not None:  # no counter yet: its seed will read this answer's usage record
            counts[1] += tokens

    async def forget(self, day: str, user_id: int) -> None:
        self._today(day).pop(user_id, None)


# KEYS[1] = the user's counter for the day (a hash: q questions, t tokens);
# ARGV = question limit, token limit (0: none), this question's tokens, seed questions, seed
# tokens ("" when not read yet), the key's lifetime. Without a counter and a seed: {'seed', 0, 0}.
_RESERVE_LUA = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  if ARGV[4] == '' then return {'seed', 0, 0} end
  redis.call('HSET', key, 'q', ARGV[4], 't', ARGV[5])
  redis.call('EXPIRE', key, ARGV[6])
end
local q = tonumber(redis.call('HGET', key, 'q') or '0')
local t = tonumber(redis.call('HGET', key, 't') or '0')
local qlimit, tlimit, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if qlimit > 0 and q >= qlimit then return {'questions', q, t} end
if tlimit > 0 and t + cost > tlimit then return {'tokens', q, t} end
q = redis.call('HINCRBY', key, 'q', 1)
t = redis.call('HINCRBY', key, 't', cost)
return {'ok', q, t}
"""
# ARGV = seed questions, seed tokens, the key's lifetime: the counter, created from the seed if missing.
_SEED_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'q', ARGV[1], 't', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'q', 't')
"""
# ARGV = the question's tokens: one question and its tokens given back (never below 0).
_RELEASE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local q = math.max(tonumber(redis.call('HGET', KEYS[1], 'q') or '0') - 1, 0)
local t = math.max(tonumber(redis.call('HGET', KEYS[1], 't') or '0') - tonumber(ARGV[1]), 0)
redis.call('HSET', KEYS[1], 'q', q, 't', t)
return {q, t}
"""
# ARGV = tokens: added to an existing counter (a missing one will be seeded with them).
_CHARGE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 't', ARGV[1]) end
return 0
"""


class RedisStore:
    """Counts shared by every worker, kept across restarts, in Redis."""

    def __init__(self, url: str, prefix: str = "fabrix:quota"):
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        self._prefix = prefix
        self._reserve = self._redis.register_script(_RESERVE_LUA)
        self._seed = self._redis.register_script(_SEED_LUA)
        self._release = self._redis.register_script(_RELEASE_LUA)
        self._charge = self._redis.register_script(_CHARGE_LUA)

    def _key(self, day: str, user_id: int) -> str:
        return f"{self._prefix}:{day}:{user_id}"

    async def reserve(
        self, day: str, user_id: int, limits: Limits, tokens: int, seed: Seed
    ) -> tuple[Outcome, int, int]:
        key, base = self._key(day, user_id), [limits.questions, limits.tokens, tokens]
        outcome, questions, used = await self._reserve(keys=[key], args=[*base, "", "", REDIS_KEY_TTL_SECONDS])
        if outcome == b"seed":  # the day's first question here: read the usage records once
            seeded = await seed()
            outcome, questions, used = await self._reserve(keys=[key], args=[*base, *seeded, REDIS_KEY_TTL_SECONDS])
        return outcome.decode(), int(questions), int(used)

    async def read(self, day: str, user_id: int, seed: Seed) -> tuple[int, int]:
        key = self._key(day, user_id)
        questions, used = await self._redis.hmget(key, ["q", "t"])
        if questions is None:
            questions, used = await self._seed(keys=[key], args=[*await seed(), REDIS_KEY_TTL_SECONDS])
        return int(questions or 0), int(used or 0)

    async def release(self, day: str, user_id: int, tokens: int) -> tuple[int, int] | None:
        left = await self._release(keys=[self._key(day, user_id)], args=[tokens])
        return (int(left[0]), int(left[1])) if left else None

    async def charge(self, day: str, user_id: int, tokens: int) -> None:
        await self._charge(keys=[self._key(day, user_id)], args=[tokens])

    async def forget(self, day: str, user_id: int) -> None:
        await self._redis.delete(self._key(day, user_id))

    async def close(self) -> None:
        await self._redis.aclose()


# --- the quotas of this process -------------------------------------------------------------------


def local_now() -> datetime:
    """Now in the server's time zone."""
    return datetime.now().astimezone()


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)


async def usage_of_day(user_id: int, day_start: datetime, day_end: datetime) -> tuple[int, int]:
    """(questions, tokens) of the user's usage records in the day."""
    return await run_db(quota_repo.day_usage, user_id=user_id, since=day_start, until=day_end)


@dataclass
class Quotas:
    """Counting questions and tokens against the daily limits; `clock` gives the local time
    (tests move it), `usage` reads a day's usage records (the seed of a counter)."""

    store: Store = field(default_factory=MemoryStore)
    clock: Callable[[], datetime] = local_now
    usage: Callable[[int, datetime, datetime], Awaitable[tuple[int, int]]] = usage_of_day
    _fallback: MemoryStore = field(default_factory=MemoryStore)
    _counting: set[tuple[date, int]] = field(default_factory=set)  # (day, user) counted here
    # (day, user) -> the read of their usage records and when it started (see _seed)
    _seeding: dict[tuple[date, int], tuple[asyncio.Future[tuple[int, int]], float]] = field(default_factory=dict)

    async def _call(self, method: str, *args):
        try:
            return await getattr(self.store, method)(*args)
        except RedisError as exc:
            log.warning("daily quotas: Redis failed (%s); counting in this process", type(exc).__name__)
            return await getattr(self._fallback, method)(*args)

    def _day(self) -> tuple[datetime, datetime]:
        now = self.clock()
        return now, next_midnight(now)

    def _seed(self, user_id: int, now: datetime, resets_at: datetime) -> Seed:
        """Reads the user's usage records of the day: once for all the questions arriving meanwhile."""
        start, key = datetime.combine(now.date(), time(), tzinfo=now.tzinfo), (now.date(), user_id)

        async def seed() -> tuple[int, int]:
            # A read just finished is used again for a moment: the questions that arrived with the
            # first one are told "no counter yet" until it has written the counter.
            pending, started = self._seeding.get(key, (None, 0.0))
            if pending is None or (pending.done() and monotonic() - started > SEED_REUSE_SECONDS):
                pending = asyncio.ensure_future(self.usage(user_id, start, resets_at))
                self._seeding[key] = (pending, monotonic())
            return await asyncio.shield(pending)

        return seed

    async def reserve(self, user: User, question: str) -> Reservation:
        """Count one question (and its estimated tokens) against the user's limits today, or
        raise OverQuota (nothing counted) when it is over them."""
        limits = limits_for(user)
        now, resets_at = self._day()
        user_id = user.id or 0
        if not limits.any:
            return Reservation(user_id, now.date(), 0, counted=False)
        tokens = estimate_tokens(question)
        day = now.date().isoformat()
        outcome, questions, used = await self._call(
            "reserve", day, user_id, limits, tokens, self._seed(user_id, now, resets_at)
        )
        standing = Standing(limits, questions, used, resets_at)
        if outcome == "questions":
            raise OverQuota("quota_questions_used", standing, limit=limits.questions)
        if outcome == "tokens":
            raise OverQuota("quota_tokens_used", standing, limit=f"{limits.tokens:,}")
        if len(self._counting) > 100_000:
            self._counting = {entry for entry in self._counting if entry[0] == now.date()}
        self._counting.add((now.date(), user_id))
        return Reservation(user_id, now.date(), tokens, counted=True, standing=standing)

    async def release(self, held: Reservation) -> Standing | None:
        """The question was not saved after all: it and its tokens no longer count."""
        if not held.counted or held.standing is None:
            return held.standing
        left = await self._call("release", held.day.isoformat(), held.user_id, held.tokens)
        if left is None:
            return None
        return Standing(held.standing.limits, left[0], left[1], held.standing.resets_at)

    async def charge(self, user_id: int, tokens: int) -> None:
        """An answer ended: add what its question's reservation did not hold (the history sent
        with it, and the answer). Only for users whose questions are counted here today."""
        now = self.clock()
        if tokens > 0 and (now.date(), user_id) in self._counting:
            await self._call("charge", now.date().isoformat(), user_id, tokens)

    async def standing(self, user: User) -> Standing | None:
        """The user's day so far; None when no limit applies to them."""
        limits = limits_for(user)
        if not limits.any:
            return None
        now, resets_at = self._day()
        user_id = user.id or 0
        questions, used = await self._call("read", now.date().isoformat(), user_id, self._seed(user_id, now, resets_at))
        return Standing(limits, questions, used, resets_at)

    async def forget(self, user_id: int) -> None:
        """The user's limits changed: their count today is read again from the usage records
        at the next question (it may have gone uncounted while no limit applied)."""
        now = self.clock()
        self._counting.discard((now.date(), user_id))
        self._seeding.pop((now.date(), user_id), None)
        await self._call("forget", now.date().isoformat(), user_id)


_quotas: Quotas | None = None


def get_quotas() -> Quotas:
    """This process's quotas, in Redis when `[rate_limit] redis_url` is set."""
    global _quotas
    if _quotas is None:
        url = get_settings().rate_limit.redis_url
        _quotas = Quotas(RedisStore(url) if url else MemoryStore())
    return _quotas


def set_quotas(quotas: Quotas | None) -> None:
    """Tests: use these quotas (None: the configured ones again, from the next call)."""
    global _quotas
    _quotas = quotas


async def reserve(user: User, question: str) -> Reservation:
    return await get_quotas().reserve(user, question)


async def release(held: Reservation) -> Standing | None:
    return await get_quotas().release(held)


async def charge(user_id: int, tokens: int) -> None:
    await get_quotas().charge(user_id, tokens)


async def standing(user: User) -> Standing | None:
    return await get_quotas().standing(user)


async def forget(user_id: int) -> None:
    await get_quotas().forget(user_id)
