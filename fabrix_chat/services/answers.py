"""One answer, from "question saved" to "answer saved with its final status". No Reflex here.

`run_answer(job, view)` owns all of it: the rate limit, the stream from FabriX (or the file
question), batching what arrived into updates for the page, saving the text while it grows,
the heartbeat that tells a restarted instance the answer is still being written, Stop (pressed
in this process or, through the live board, on any worker), the final status and its plain
message, the usage record, and whether the attached file is kept for Retry.

The page learns of the answer through `AnswerView.show`: each batch is the text *added* since
the previous one, numbered from 1, so a batch costs about its own size and a page that missed
one can tell and ask for the whole text (`services.live`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fabrix_chat import i18n, outages
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.fabrix import errors as fx
from fabrix_chat.fabrix.client import get_client
from fabrix_chat.fabrix.limiter import RateLimited
from fabrix_chat.models import Status
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import usage as usage_repo
from fabrix_chat.services import files, live, quota
from fabrix_chat.services.chat import estimate_tokens, get_limiter, retry_makes_sense

log = logging.getLogger(__name__)

BATCH_INTERVAL = 0.07  # seconds between page updates after the first text (about 14 a second)
SAVE_INTERVAL = 1.5  # the answer reaches the database at least this often while it grows
BEAT_INTERVAL = 3.0  # a stalled answer still tells the database it is alive this often
FINAL_SAVE_DELAYS = (0.5, 1.0, 2.0, 4.0)  # between attempts at an answer's last save, then 5 s
FINAL_SAVE_SECONDS = 600.0  # and for how long, before its text is given up (and logged as lost)
_PENDING_RECORDS: set[asyncio.Task] = set()  # usage records waiting for the database (_record)
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"[:64]  # who writes an answer (messages.owner)


@dataclass(frozen=True)
class AnswerJob:
    """Everything one answer needs, fixed when the question is saved."""

    user_id: int
    username: str
    email: str
    conversation_id: int
    question_seq: int
    message_id: int  # the answer's row, saved empty with status "streaming" before FabriX is called
    agent_id: str
    contents: tuple[str, ...]
    lang: str = "en"
    file: files.StoredFile | None = None
    left_out: int = 0  # earlier turns not sent, to stay within the history's token budget

    @property
    def kind(self) -> str:
        return "file" if self.file else "chat"


@dataclass(frozen=True)
class AnswerEnd:
    text: str
    status: str  # a Status: COMPLETE, STOPPED or ERROR
    error: str = ""  # the plain message of an error
    retry: bool = False  # whether asking again can help
    file_kept: bool = False  # the attached file is kept so Retry can send it again
    parts: int = 0  # how many batches the page was sent
    closed: bool = False  # its page's view was closed (the tab was reset): nothing more is shown there


class AnswerView(Protocol):
    """What the page implements to follow an answer."""

    async def show(self, part: int, added: str, status: str | None) -> None:
        """Batch number `part` (1, 2, ...): the text added since the last batch, and the status
        line ("waiting for capacity", FabriX's STATUS events) when it changed, else None."""


@dataclass
class _Received:
    """What the upstream reader has received so far; the pump turns it into batches."""

    text: str = ""
    status: str = ""
    dirty: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, *, text: str | None = None, status: str | None = None) -> None:
        if text is not None:
            self.text += text
        if status is not None:
            self.status = status
        self.dirty = True
        self.wake.set()


# Jobs saved with their question and not yet started, by answer id. The event that saved the
# question hands its job to the background event that runs it, which Reflex always queues in the
# same process; kept here rather than in the tab's state, which Redis would store (twice).
_HANDED: dict[int, tuple[float, AnswerJob]] = {}
HAND_OVER_SECONDS = 300.0  # a job never taken (its tab went away at once) is forgotten after this


def hand_over(job: AnswerJob) -> None:
    now = time.monotonic()
    for message_id, (since, _) in list(_HANDED.items()):
        if now - since > HAND_OVER_SECONDS:
            del _HANDED[message_id]
    _HANDED[job.message_id] = (now, job)


def take(message_id: int, user_id: int) -> AnswerJob | None:
    """The job handed over for this answer, once; None when there is none for this user."""
    handed = _HANDED.get(message_id)
    if handed is None or handed[1].user_id != user_id:
        return None
    del _HANDED[message_id]
    return handed[1]


def handed(message_id: int) -> AnswerJob | None:
    """The job waiting for this answer, without taking it (for tests and checks)."""
    entry = _HANDED.get(message_id)
    return entry[1] if entry else None


# Answers running in this process, by message id: Stop here wakes them at once.
_RUNNING: dict[int, _Pump] = {}


async def request_stop(message_id: int, *, close: bool = False) -> None:
    """Stop this answer wherever it runs: at once in this process, through the live board elsewhere.
    `close`: its page is gone (the tab was reset), so nothing more is shown there.

    The caller has checked that the answer is the signed-in user's.
    """
    running = _RUNNING.get(message_id)
    if running is not None:
        running.closed = running.closed or close
        running.stop.set()
        return
    handed = _HANDED.pop(message_id, None)
    if handed is not None:  # saved but not started yet: it never starts
        await save_answer(handed[1], "", Status.STOPPED)
        return
    try:
        await live.get_board().request_stop(message_id)
    except Exception:
        log.exception("asking the worker of answer %s to stop failed", message_id)
        raise


async def snapshot(message_id: int) -> live.Snapshot | None:
    """A running answer's text as far as the page was sent it, and that batch's number; None when
    it runs nowhere (it has ended: the database has it)."""
    running = _RUNNING.get(message_id)
    if running is not None:
        return live.Snapshot(running.part, running.received.text[: running.sent], running.status)
    board = live.get_board()
    if not board.shared:
        return None
    try:
        return await board.read(message_id)
    except Exception:
        log.exception("reading answer %s from the live board failed", message_id)
        return None


async def run_answer(
    job: AnswerJob,
    view: AnswerView,
    *,
    batch_interval: float = BATCH_INTERVAL,
    save_interval: float = SAVE_INTERVAL,
) -> AnswerEnd:
    """Stream, show, save and account for one answer; returns how it ended (never raises for
    an upstream failure: that is an answer with status "error" and its plain message)."""
    received = _Received()
    consumer = asyncio.create_task(consume_answer(job, received.update))
    pump = _RUNNING[job.message_id] = _Pump(job, view, received, consumer, batch_interval, save_interval)
    try:
        await pump.start()
        await pump.run()
        status, error, retry = Status.COMPLETE, "", False
        try:
            consumer.result()
        except asyncio.CancelledError:
            status = Status.STOPPED
        except Exception as exc:
            status, error, retry = Status.ERROR, i18n.error_text(exc, job.lang), retry_makes_sense(exc)
        # Saved while the answer can still be found running: a resync meanwhile gets the text
        # from here, never the database's older copy. The page shows the whole text already, so
        # a database that is down (a restart, a full disk) is waited for rather than given up on.
        await save_final(job, received.text, status, error, waiting=pump.say)
    except asyncio.CancelledError:
        consumer.cancel()
        # The task itself is being cancelled (shutdown): save what arrived as stopped, after a
        # save still under way (its thread goes on), so "streaming" never lands last.
        if pump.saving is not None:
            await asyncio.wait({pump.saving})
        await asyncio.shield(save_answer(job, received.text, Status.STOPPED))
        raise
    finally:
        if _RUNNING.get(job.message_id) is pump:
            del _RUNNING[job.message_id]
        if not consumer.done():
            consumer.cancel()  # never leave an upstream request running without a reader
        await pump.forget()
    file_kept = bool(job.file) and status != Status.COMPLETE
    if job.file and not file_kept:
        await asyncio.to_thread(files.delete_file, job.file.path)  # answered: the file is not kept
    return AnswerEnd(received.text, status, error, retry, file_kept, pump.part, pump.closed)


class _Pump:
    """Turns what arrives into batches for the page, saves and beats, and watches for Stop.

    The first change is shown at once; after that at most one batch per batch_interval, each
    carrying everything received meanwhile. The text is saved whenever save_interval has passed
    since the last save (also during a stall), and a heartbeat is written when nothing was
    saved for BEAT_INTERVAL. On a shared board (Redis) the text the page was sent is copied at
    most once per live.BOARD_INTERVAL, for a tab that reloads onto another worker; a Stop
    pressed there sets `stop` through the board.
    """

    def __init__(self, job, view, received, consumer, batch_interval, save_interval) -> None:
        self.job: AnswerJob = job
        self.view: AnswerView = view
        self.received: _Received = received
        self.consumer: asyncio.Task = consumer
        self.stop = asyncio.Event()
        self.closed = False  # the page's view is gone: no more batches for it
        self.batch_interval: float = batch_interval
        self.save_interval: float = save_interval
        self.board = live.get_board()
        self.board_failed = False
        self.part = 0
        self.sent = 0  # characters of the text already in a batch
        self.on_board = 0  # characters of it already on the shared board
        self.board_part = 0  # the last batch in them
        self.last_board = 0.0
        self.status = ""
        self.saved_text = ""
        self.saving: asyncio.Future | None = None
        self.last_save = self.last_beat = time.monotonic()

    async def run(self) -> None:
        first = True
        while True:
            waiter = asyncio.ensure_future(self.received.wake.wait())
            stopper = asyncio.ensure_future(self.stop.wait())
            await asyncio.wait({self.consumer, waiter, stopper}, timeout=self._timeout(), return_when="FIRST_COMPLETED")
            waiter.cancel()
            stopper.cancel()
            self.received.wake.clear()
            await self._check_stop()
            if self.received.dirty:
                await self._flush()
                # Only answer text ends the "first" phase: a status line before it must not delay it.
                first = first and not self.received.text
                if not first and not self.consumer.done():
                    await asyncio.sleep(self.batch_interval)  # let chunks gather into one batch
                    await self._check_stop()
            await self._save_or_beat()
            await self._mirror()
            if self.consumer.done():
                await self._flush()  # what arrived during the last pause
                return

    def _timeout(self) -> float:
        now = time.monotonic()
        until = [self.last_beat + BEAT_INTERVAL - now]
        if self.received.text != self.saved_text:
            until.append(self.last_save + self.save_interval - now)
        if self._board_behind():
            until.append(self.last_board + live.BOARD_INTERVAL - now)
        return max(0.0, min(until))

    async def _check_stop(self) -> None:
        if self.stop.is_set() and not self.consumer.done():
            self.consumer.cancel()
            await asyncio.wait({self.consumer})

    async def _flush(self) -> None:
        # A closed view (its tab now belongs to nobody or someone else) gets nothing more; after a
        # plain Stop the page still gets what had arrived.
        if not self.received.dirty or self.closed:
            return
        self.received.dirty = False
        added = self.received.text[self.sent :]
        status = self.received.status if self.received.status != self.status else None
        if not added and status is None:
            return
        self.part += 1
        self.sent = len(self.received.text)
        self.status = self.received.status
        await self._mirror()
        await self.view.show(self.part, added, status)

    def _board_behind(self) -> bool:
        return self.board.shared and not self.board_failed and self.board_part < self.part

    async def _mirror(self) -> None:
        """Copy what the page was sent to the shared board, when BOARD_INTERVAL has passed."""
        now = time.monotonic()
        if not self._board_behind() or now - self.last_board < live.BOARD_INTERVAL:
            return
        first = self.last_board == 0.0
        self.last_board = now
        added, self.on_board, self.board_part = self.received.text[self.on_board : self.sent], self.sent, self.part
        await self._on_board(self.board.add(self.job.message_id, self.part, added, self.status, first=first))
        if self.board_failed:
            # A batch missing from the board would leave a hole in what its readers get:
            # take the answer off it, so they read the database instead.
            await self._on_board(self.board.finish(self.job.message_id))

    async def _save_or_beat(self) -> None:
        now = time.monotonic()
        if now - self.last_save >= self.save_interval and self.received.text != self.saved_text:
            self.saved_text = self.received.text
            self.last_save = self.last_beat = now
            self.saving = asyncio.ensure_future(save_answer(self.job, self.saved_text, Status.STREAMING))
            await asyncio.shield(self.saving)
        elif now - self.last_beat >= BEAT_INTERVAL:
            self.last_beat = now
            try:
                await run_db(conv_repo.beat, message_ids=[self.job.message_id])
            except Exception:
                log.exception("heartbeat of answer %s failed", self.job.message_id)

    async def _on_board(self, call):
        """A call to the shared board; its failure is logged once and never ends the answer."""
        try:
            return await call
        except Exception as exc:
            if not self.board_failed:
                self.board_failed = True
                log.warning("live board (Redis) failed for answer %s: %s", self.job.message_id, exc)
            return None

    async def say(self, status: str) -> None:
        """A status line after the answer's last text (it has ended, and is being saved)."""
        if self.closed or status == self.status:
            return
        self.part += 1
        self.status = status
        await self.view.show(self.part, "", status)

    async def start(self) -> None:
        # Stop pressed on another worker (also before this answer started) sets `stop`.
        if self.board.shared:
            await self._on_board(self.board.watch_stop(self.job.message_id, self.stop))

    async def forget(self) -> None:
        if self.board.shared:
            await self._on_board(self.board.finish(self.job.message_id))


async def _write_answer(job: AnswerJob, text: str, status: str, error: str) -> None:
    await run_db(
        conv_repo.update_message,
        user_id=job.user_id,
        message_id=job.message_id,
        content=text,
        status=status,
        error=error,
    )


async def save_answer(job: AnswerJob, text: str, status: str, error: str = "") -> None:
    """Write the answer's text and status; failures are logged, the stream goes on."""
    try:
        await _write_answer(job, text, status, error)
    except Exception as exc:  # (an outage is one line, not a traceback every SAVE_INTERVAL)
        outages.log_failure(log, f"saving answer {job.message_id}", exc)


async def save_final(
    job: AnswerJob, text: str, status: str, error: str = "", *, waiting: Callable[[str], Awaitable[None]] | None = None
) -> bool:
    """The answer's last save, tried again until the database takes it (for FINAL_SAVE_SECONDS):
    a database restarting or a full disk must not leave the text only on the page. `waiting(text)`
    tells the page, once, that the answer is still being saved. Returns whether it was saved."""

    async def write() -> None:
        await _write_answer(job, text, status, error)

    async def first_failure() -> None:
        if waiting is not None:
            await waiting(i18n.t("saving_answer", job.lang))

    return await until_saved(f"answer {job.message_id} ({len(text)} characters)", write, first_failure)


async def until_saved(
    what: str, write: Callable[[], Awaitable[object]], first_failure: Callable[[], Awaitable[None]] | None = None
) -> bool:
    """Run `write` until the database takes it, for FINAL_SAVE_SECONDS, while it fails because the
    database or the disk is away (outages.py); a bug is logged and not tried again. Returns whether
    it was written."""
    deadline = time.monotonic() + FINAL_SAVE_SECONDS
    delays = iter(FINAL_SAVE_DELAYS)
    failures = 0
    while True:
        try:
            await write()
        except Exception as exc:
            if outages.text_key(exc) is None:
                log.exception("saving %s failed", what)
                return False
            failures += 1
            if failures == 1:
                log.warning(
                    "saving %s failed (%s); trying again until the database answers", what, outages.describe(exc)
                )
                if first_failure is not None:
                    await first_failure()
            if time.monotonic() >= deadline:
                log.error("%s could not be saved for %.0f s and is not kept", what, FINAL_SAVE_SECONDS)
                return False
            await asyncio.sleep(next(delays, 5.0))
            continue
        if failures:
            log.info("%s saved after %d failed attempts", what, failures)
        return True


# --- reading the answer from FabriX ---------------------------------------------------------


async def consume_answer(job: AnswerJob, update) -> None:
    """Stream one answer into `update(text=..., status=...)`; raises on failure or when cancelled.

    Usage (tokens in and out, latency, outcome) is recorded whatever the ending.
    """
    settings = get_settings()
    contents = list(job.contents)
    tokens_in = sum(estimate_tokens(c) for c in contents)
    tokens_out = 0
    outcome = "ok"
    started = time.monotonic()
    limiter = get_limiter()

    def waiting(_seconds: float) -> None:
        update(status=i18n.t("waiting_for_capacity", job.lang))

    try:
        await limiter.acquire(
            user=job.username,
            tokens=tokens_in,
            max_wait=(
                settings.rate_limit.file_max_wait_seconds if job.file else settings.rate_limit.chat_max_wait_seconds
            ),
            on_wait=waiting,
        )
        update(status="")
        email = settings.fabrix_api.user_email or job.email
        if job.file:
            tokens_out = await _ask_with_file(job, job.file, contents, email, update)
            return
        stream = get_client().stream_answer(agent_id=job.agent_id, contents=contents, user_email=email or None)
        try:
            async for event in stream:
                if event.kind == "chunk" and event.text:
                    tokens_out += estimate_tokens(event.text)
                    update(text=event.text, status="")
                elif event.kind == "status":
                    update(status=event.text)
        finally:
            await stream.aclose()
    except asyncio.CancelledError:
        outcome = "stopped"
        raise
    except fx.FabrixRateLimited as exc:
        outcome = exc.kind
        if exc.retry_after:
            await limiter.penalize(exc.retry_after)
        raise
    except fx.FabrixError as exc:
        outcome = exc.kind
        log.warning("answer %s failed: %s (%s)", job.message_id, exc.kind, exc.detail)
        raise
    except RateLimited:
        outcome = "busy"
        raise
    except Exception:
        # Not a FabriX failure (a bug, the database, a file): still not an answered question.
        outcome = "error"
        log.exception("answer %s failed unexpectedly", job.message_id)
        raise
    finally:
        latency_ms = int((time.monotonic() - started) * 1000)
        if latency_ms > 5000 and outcome == "ok":
            log.warning("slow answer: %d ms for message %s", latency_ms, job.message_id)
        await _record(job, tokens_in, tokens_out, latency_ms, outcome)


async def _ask_with_file(job: AnswerJob, attached: files.StoredFile, contents: list[str], email: str, update) -> int:
    """A question about a stored file: sent from disk, answered in one piece; returns the answer's tokens."""
    path = Path(attached.path)
    if not files.is_private_file(path):
        raise ValueError("only files from the private uploads folder are sent")
    # The file endpoint answers only when it is done: say what is happening meanwhile.
    update(status=i18n.t("reading_file", job.lang))
    text = await get_client().ask_with_file(
        agent_id=job.agent_id,
        contents=contents,
        file_path=path,
        filename=attached.name,
        content_type=attached.content_type,
        user_email=email or None,
    )
    update(text=text, status="")
    return estimate_tokens(text)


async def _record(job: AnswerJob, tokens_in: int, tokens_out: int, latency_ms: int, outcome: str) -> None:
    """The answer's usage record (the admin's usage page, the daily quota's seed) and the token
    counts of the rate limit and the quota. A record the database cannot take now is written in
    the background once it is back, so an outage leaves no hole in the usage figures."""

    async def write() -> None:
        await run_db(
            usage_repo.record_usage,
            user_id=job.user_id,
            username=job.username,
            agent_id=job.agent_id,
            kind=job.kind,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=latency_ms,
            outcome=outcome,
        )

    try:
        if tokens_out:
            await get_limiter().record_tokens(user=job.username, tokens=tokens_out)
        try:
            await write()
        except Exception as exc:
            if outages.text_key(exc) is None:
                raise
            task = asyncio.create_task(until_saved(f"the usage of answer {job.message_id}", write))
            _PENDING_RECORDS.add(task)
            task.add_done_callback(_PENDING_RECORDS.discard)
        # The daily quota counted the question's own estimate when it was asked.
        asked = estimate_tokens(job.contents[-1]) if job.contents else 0
        await quota.charge(job.user_id, tokens_in + tokens_out - asked)
    except Exception as exc:
        outages.log_failure(log, "recording usage", exc)
