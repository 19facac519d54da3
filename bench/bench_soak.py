"""Soak: simulated users work steadily for 30 minutes (or --minutes N) while the back end's memory,
descriptors, threads, asyncio tasks, states, database, WAL and uploads are sampled every minute, and
`manage backup` runs every 5 minutes; nothing may be lost, nothing may leak.

    .venv/bin/python bench/bench_soak.py [--minutes 30] [--users 20] [--pace 5] [--sample-seconds 60]
                                         [--backup-minutes 5]

The app runs in service mode (`reflex run --env prod`, one port) on a copy of the seeded database
(100 users, 10,000 conversations, 100,000 messages) against bench/emulator.py with latency 0. Each
user is a websocket client (bench/reflex_client.py, the frames a browser tab sends) that signs in
with the log-in form (bench000 ... bench019), then every `--pace` seconds (0.5-1.5x at random, one
fixed seed) does one of: open one of its conversations, ask in it, ask in a new chat, attach a file
over HTTP (`/_upload`, as the browser does) and ask about it (or remove it), ask for a slow answer
(`#fault:slow`) and press Stop after the first text, search (and clear the search), rename a chat,
delete a chat it made, and now and then open a new tab or sign out and in again. Each user first
does every kind of action once (a tour, in an order of its own), then chooses by the weights in
ACTIONS; a failed action is counted and the user carries on in a new tab.

Every `--sample-seconds` it records, for the back-end worker (the process that logs "back end
started"): RSS, open descriptors (/proc/PID/fd) and threads (/proc/PID/status); asyncio tasks and
Reflex states held (StateManagerMemory.states), read inside the worker by bench/soak_probe (a
sitecustomize.py on the app's PYTHONPATH: nothing is added to the app); the database, WAL and
upload folder sizes; and the errors so far: failed or timed-out actions, alerts shown, ERROR
records and unlogged tracebacks in the app's output. The slope of each (least squares) is taken over
the last 20 minutes (or the last 2/3 of a shorter run).

Every `--backup-minutes` it runs `python -m fabrix_chat.manage backup` and `manage check` on that
copy. At the end, with the app stopped, it restores the last backup (`manage restore --yes`) into a
scratch copy of the final database and compares: only what came after the backup may be missing.

Lost messages: every question the app saved is looked up in the final database; its answer must
equal what the emulator sent (its log, `GET /_bench/asks`) or, when stopped, be a start of it, and
equal what the client was shown; renamed chats must have the new title, deleted ones be gone; the
emulator must have received each question once. Orphaned uploads: files left in data/uploads beyond
the ones a tab still keeps (a file answer that did not complete keeps its file for Retry).

Results: bench/results/soak.json and soak.png (other lengths: soak_<N>min.json / .png).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    BENCH,
    PASSWORD,
    RESULTS,
    ROOT,
    Running,
    build_lock,
    load_average,
    machine,
    migrate,
    proc_cpu_seconds,
    proc_rss_mb,
    process_tree,
    running_app,
    summary,
    username,
    write_results,
)
from bench.reflex_client import (  # noqa: E402
    AGENTS,
    AUTH,
    CHAT,
    COMPOSER,
    CONVERSATION,
    LIVE,
    LOGIN,
    SEND_MESSAGE,
    SESSION_COOKIE,
    SET_SEARCH_QUERY,
    SIDEBAR,
    Frame,
    ReflexClient,
    ask_payload,
    compiled_hydrate_extras,
    form,
)
from bench.soak_figure import render_png, slope_per_hour  # noqa: E402

PROBE_DIR = BENCH / "soak_probe"
LOG_IN = f"{LOGIN}.log_in"
LOG_OUT = f"{AUTH}.log_out"
NEW_CHAT = f"{SIDEBAR}.new_chat"
ASK_RENAME = f"{SIDEBAR}.ask_rename"
SET_RENAME_TITLE = f"{SIDEBAR}.set_rename_title"
CONFIRM_RENAME = f"{SIDEBAR}.confirm_rename"
ASK_DELETE = f"{SIDEBAR}.ask_delete"
CONFIRM_DELETE = f"{SIDEBAR}.confirm_delete"
STOP = f"{LIVE}.stop_generating"
RECEIVE_UPLOAD = f"{COMPOSER}.receive_upload"
REMOVE_FILE = f"{COMPOSER}.remove_file"

RSS_TARGET_MB_PER_HOUR = 5.0
RESYNC_WAIT = 10.0  # seconds a client whose buffer missed a batch waits for the whole text
IN_FLIGHT_SLACK = 2.0  # seconds: a message created this long before a backup began may still miss it
# What each user does, with how often (relative weights).
ACTIONS = {
    "open": 18,
    "ask": 22,
    "ask_new": 12,
    "ask_file": 8,
    "ask_stop": 8,
    "search": 14,
    "rename": 7,
    "delete": 6,
    "new_tab": 0.5,
    "sign_out_in": 0.5,
}
TOPICS = [
    "how should I plan the release of the billing service",
    "what is the difference between a process and a thread",
    "write a short status report for the weekly meeting",
    "explain our vacation policy in three bullet points",
    "how do I reset the VPN token",
    "summarise the risks of the data-centre move",
    "draft an e-mail to the facilities team about the heating",
    "what are good interview questions for a tester",
    "compare SQLite and PostgreSQL for a small team",
    "how do I write a good commit message",
]
SEARCH_WORDS = ["report", "thread", "release", "policy", "VPN", "Soak", "meeting", "zebra-nothing", "file", "plan"]
HEADER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \| (\w+) \| ([\w.]+) \| (.*)$")
WORKER_STARTED = re.compile(r"back end started \(process (\d+)\)")


class SoakError(RuntimeError):
    """An action did not do what a user would see it do."""


@dataclass
class Options:
    """One run's settings (the command line's, plus what the short test in the suite changes)."""

    minutes: float = 30.0
    users: int = 20
    pace: float = 5.0
    sample_seconds: float = 60.0
    backup_minutes: float = 5.0
    window_minutes: float | None = None  # default: 20, or 2/3 of a run shorter than 30 minutes
    seed: int = 14
    seeded: bool = True  # a copy of bench/seed.py's database; False: a fresh one with only the users
    timeout: float = 60.0
    name: str = ""
    after_seconds: tuple[float, ...] = (5.0, 35.0)  # samples this long after the last tab closed

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        return "soak" if self.minutes == 30 else f"soak_{self.minutes:g}min"

    @property
    def window(self) -> float:
        if self.window_minutes is not None:
            return self.window_minutes
        return 20.0 if self.minutes >= 30 else self.minutes * 2 / 3


@dataclass
class AskRecord:
    """One question the app saved, and how its answer ended for the client."""

    user: str
    question: str
    kind: str  # "text", "file" or "stopped"
    conversation_id: int
    t_sent: float
    message_id: int = 0
    status: str = ""  # how the answer ended, as the tab was told
    shown: str | None = None  # the text the tab's buffer ended with (None: it never ended)
    ended: bool = False


@dataclass
class Tally:
    """What happened during the run: actions, their times, errors and the asks saved."""

    started: float = field(default_factory=time.monotonic)
    actions: Counter = field(default_factory=Counter)
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[dict[str, Any]] = field(default_factory=list)
    asks: list[AskRecord] = field(default_factory=list)
    renamed: dict[int, str] = field(default_factory=dict)  # conversation id -> its title now
    deleted: dict[int, float] = field(default_factory=dict)  # conversation id -> time.time() deleted
    files_held_closed_tabs: int = 0  # files kept for Retry by tabs closed or signed out since

    def error(self, kind: str, user: str, text: str) -> None:
        minute = round((time.monotonic() - self.started) / 60, 2)
        self.errors.append({"minute": minute, "action": kind, "user": user, "error": text[:300]})
        print(f"[{minute:7.2f} min] ERROR {user} {kind}: {text[:200]}", flush=True)


def _cancel(*futures: asyncio.Future | None) -> None:
    for future in futures:
        if future is not None and not future.done():
            future.cancel()


class SoakUser:
    """One person at one browser tab: signs in, then one action every `pace` seconds."""

    def __init__(self, soak: Soak, n: int, name: str, conversations: list[int]) -> None:
        self.soak = soak
        self.n = n
        self.name = name
        self.rng = random.Random(soak.opts.seed * 1000 + n)
        self.seeded = list(conversations)  # conversations it had before the run (small ones)
        self.created: list[int] = []  # conversations it made and has not deleted
        self.current = 0
        self.cookie = ""
        self.client: ReflexClient | None = None
        self.count = 0
        self.files_held = 0  # files this tab keeps for Retry (a file answer that did not complete)
        # Every kind of action once first (in an order of its own), so even a short run does each.
        kinds = list(ACTIONS)
        self.tour = kinds[n % len(kinds) :] + kinds[: n % len(kinds)]

    # -- the loop --------------------------------------------------------------------------------

    async def run(self, start_at: float, deadline: float) -> None:
        opts = self.soak.opts
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        await self.act("sign_in", self.sign_in)
        next_at = time.monotonic()
        while True:
            next_at += self.rng.uniform(0.5, 1.5) * opts.pace
            if next_at >= deadline:
                break
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if not self.cookie:
                await self.act("sign_in", self.sign_in)
                continue
            kind = self.choose()
            await self.act(kind, getattr(self, kind))
        # Every tab stays open until the last sample of the run has been taken.
        await asyncio.sleep(max(0.0, deadline + 2 - time.monotonic()))
        if self.client is not None:
            await self.client.close()

    def choose(self) -> str:
        kinds = list(ACTIONS)
        planned = self.tour.pop(0) if self.tour else None
        kind = planned or self.rng.choices(kinds, weights=[ACTIONS[k] for k in kinds])[0]
        instead = None
        if kind == "delete" and not self.created:
            instead = "search"
        elif kind in ("open", "rename") and not self.others():
            instead = "ask_new"
        if instead is None:
            return kind
        if planned:
            self.tour.append(planned)  # later, when it can be done
        return instead

    def others(self) -> list[int]:
        return [c for c in self.created + self.seeded if c != self.current]

    async def act(self, kind: str, action) -> None:
        tally = self.soak.tally
        started = time.perf_counter()
        failed = False
        try:
            await action()
            tally.actions[kind] += 1
            tally.seconds[kind].append(time.perf_counter() - started)
        except Exception as exc:  # counted, then the user carries on in a fresh tab
            failed = True
            tally.actions[f"{kind} (failed)"] += 1
            tally.error(kind, self.name, f"{type(exc).__name__}: {exc}")
        finally:
            alerts = self.alerts()
            if alerts and not failed:
                failed = True
                tally.error(kind, self.name, f"alert shown: {alerts[0]}")
        if failed:
            await self.recover()

    def alerts(self) -> list[str]:
        """Alerts (and log-in errors) shown since the last action; the frames are then forgotten."""
        if self.client is None:
            return []
        shown = [
            str(text)
            for f in self.client.frames
            for text in (f.var(CHAT, "alert_text"), f.var(LOGIN, "login_error"))
            if text
        ]
        self.client.frames.clear()
        return shown

    async def recover(self) -> None:
        """After a failed action: a new tab (the old one may still be streaming or be closed)."""
        with contextlib.suppress(Exception):
            if self.cookie:
                await self.new_tab()
                self.soak.tally.actions["new_tab (after an error)"] += 1
                return
        self.cookie = ""  # signs in again at the next turn

    # -- helpers ---------------------------------------------------------------------------------

    def new_client(self, token: str = "") -> ReflexClient:
        """A tab; `token`: the same tab loaded again (the browser keeps its token in sessionStorage)."""
        client = ReflexClient(self.soak.url, hydrate_extras=self.soak.extras, cookie=self.cookie, record_frames=True)
        if token:
            client.token = token
        return client

    async def call(self, name: str, payload: dict[str, Any] | None, until, what: str) -> Frame:
        """Send one event and wait for the update that satisfies `until`."""
        c = self.client
        done = c.expect(until, self.soak.opts.timeout)
        try:
            await c.send(name, payload)
            return await done
        except TimeoutError:
            raise SoakError(f"{what}: no update within {self.soak.opts.timeout:.0f} s") from None
        finally:
            _cancel(done)

    async def open_chat_page(self) -> None:
        """/chat after a sign-in or in a new tab: wait for the agent picker to be filled."""
        c = self.client
        agents = c.expect(lambda f: bool(f.var(AGENTS, "agents")), self.soak.opts.timeout)
        try:
            await c.navigate("/chat")
            await agents
        finally:
            _cancel(agents)
        self.current = 0

    # -- actions ---------------------------------------------------------------------------------

    async def sign_in(self, same_tab: bool = False) -> None:
        timeout = self.soak.opts.timeout
        token = self.client.token if same_tab and self.client is not None else ""
        if self.client is not None:
            await self.client.close()
        self.cookie = ""
        c = self.client = self.new_client(token)
        c.follow_redirects = False
        await c.connect("/login", wait=timeout)
        frame = await self.call(
            LOG_IN,
            {"form": form(username=self.name, password=PASSWORD)},
            lambda f: f.page_load() is not None or bool(f.var(LOGIN, "login_error")),
            "log-in",
        )
        ticket = frame.page_load() or ""
        if not ticket.startswith("/auth/session?ticket="):
            raise SoakError(f"log-in refused: {frame.var(LOGIN, 'login_error')}")
        await c.sign_in_with(ticket, wait=timeout)
        self.cookie = c.cookie
        c.follow_redirects = True
        await self.open_chat_page()

    async def sign_out_in(self) -> None:
        """Sign out (the page loads /auth/logout, which removes the cookie), then in again."""
        await self.call(LOG_OUT, None, lambda f: f.page_load() is not None, "sign-out")
        async with httpx.AsyncClient(base_url=self.soak.url, timeout=self.soak.opts.timeout) as http:
            await http.get("/auth/logout", headers={"cookie": f"{SESSION_COOKIE}={self.cookie}"})
        self.soak.tally.files_held_closed_tabs += self.files_held  # a reset tab forgets them
        self.files_held = 0
        await self.sign_in(same_tab=True)

    async def new_tab(self) -> None:
        """Close the tab and open the app in a new one (a new Reflex state; the old one is kept
        on the server until it expires)."""
        if self.client is not None:
            await self.client.close()
        self.soak.tally.files_held_closed_tabs += self.files_held
        self.files_held = 0
        self.client = self.new_client()
        agents = self.client.expect(lambda f: bool(f.var(AGENTS, "agents")), self.soak.opts.timeout)
        try:
            await self.client.connect("/chat", wait=self.soak.opts.timeout)
            await agents
        finally:
            _cancel(agents)
        self.current = 0

    async def open(self) -> None:
        target = self.rng.choice(self.others())
        frame = await self.call_navigate(f"/chat/{target}", target)
        if frame.var(CONVERSATION, "not_found") is True:
            raise SoakError(f"conversation {target} not found")
        self.current = target

    async def call_navigate(self, path: str, conversation_id: int) -> Frame:
        c = self.client
        done = c.expect(
            lambda f: (
                f.var(CONVERSATION, "conversation_id") == conversation_id or f.var(CONVERSATION, "not_found") is True
            ),
            self.soak.opts.timeout,
        )
        try:
            await c.navigate(path)
            return await done
        except TimeoutError:
            raise SoakError(f"opening {path}: no update") from None
        finally:
            _cancel(done)

    async def go_to_new_chat(self) -> None:
        if self.current == 0:
            return
        await self.call(NEW_CHAT, None, lambda f: f.var(CONVERSATION, "conversation_id") == 0, "new chat")
        self.current = 0

    def question(self, text: str) -> str:
        self.count += 1
        return f"Soak {self.soak.tag} {self.name} #{self.count}: {text}"

    async def ask(self) -> None:
        await self._ask(self.question(self.rng.choice(TOPICS) + "?"), "text")

    async def ask_new(self) -> None:
        await self.go_to_new_chat()
        await self._ask(self.question(self.rng.choice(TOPICS) + "?"), "text")

    async def ask_stop(self) -> None:
        await self._ask(self.question(self.rng.choice(TOPICS) + "? #fault:slow"), "stopped")

    async def ask_file(self) -> None:
        """Attach a text file (POST /_upload, as the browser sends it), then ask about it, or
        (one time in five) change one's mind and remove it."""
        c = self.client
        self.count += 1
        name = f"soak-notes-{self.name}-{self.count}.txt"
        lines = [f"line {i}: {self.rng.choice(TOPICS)}" for i in range(self.rng.randint(5, 400))]
        attached = c.expect(
            lambda f: f.var(COMPOSER, "attachment_name") == name or bool(f.var(CHAT, "alert_text")),
            self.soak.opts.timeout,
        )
        try:
            response = await self.soak.http.post(
                "/_upload",
                headers={
                    "Reflex-Client-Token": c.token,
                    "Reflex-Event-Handler": RECEIVE_UPLOAD,
                    "cookie": f"{SESSION_COOKIE}={self.cookie}",
                },
                files={"files": (name, "\n".join(lines).encode(), "text/plain")},
            )
            if response.status_code >= 400:
                raise SoakError(f"upload refused: HTTP {response.status_code} {response.text[:200]}")
            frame = await attached
        except TimeoutError:
            raise SoakError("upload: the file was never shown as attached") from None
        finally:
            _cancel(attached)
        if frame.var(COMPOSER, "attachment_name") != name:
            raise SoakError(f"upload: {frame.var(CHAT, 'alert_text')}")
        self.files_held = 1  # waiting for its question (it replaced any file kept for Retry)
        if self.rng.random() < 0.2:
            await self.call(REMOVE_FILE, None, lambda f: f.var(COMPOSER, "attachment_name") == "", "remove file")
            self.files_held = 0
            self.soak.tally.actions["file removed"] += 1
            return
        await self._ask(self.question(f"what does {name} say?"), "file")

    async def _ask(self, question: str, kind: str) -> AskRecord:
        c = self.client
        timeout = self.soak.opts.timeout
        saved = c.expect(lambda f: f.var(LIVE, "streaming") is True or bool(f.var(CHAT, "alert_text")), timeout)
        end = c.expect(lambda f: f.answer_ended(), timeout * 2)
        first = c.expect(lambda f: f.pushes_text(), timeout) if kind == "stopped" else None
        try:
            sent = time.time()
            await c.send(SEND_MESSAGE, ask_payload(question))
            frame = await saved
            if frame.var(LIVE, "streaming") is not True:
                raise SoakError(f"question not saved: {frame.var(CHAT, 'alert_text')}")
            conversation_id = int(frame.var(LIVE, "live_conversation_id") or self.current)
            record = AskRecord(self.name, question, kind, conversation_id, sent)
            self.soak.tally.asks.append(record)
            if self.current == 0:
                self.created.append(conversation_id)
            self.current = conversation_id
            self.files_held = 0  # a file kept for Retry goes; an attached one goes with the answer
            if first is not None:
                await first
                await asyncio.sleep(self.rng.uniform(0.3, 2.0))
                await c.send(STOP)
            end_frame = await end
        except TimeoutError:
            raise SoakError("the answer did not end") from None
        finally:
            _cancel(saved, end, first)
        ended = end_frame.ended_answer() or {}
        record.message_id = int(ended.get("id") or c.live_id or 0)
        record.status = str(ended.get("status") or "")
        if kind == "file" and record.status != "complete":
            self.files_held = 1  # kept for Retry until the next question
        answer = c.live.get(record.message_id)
        deadline = time.monotonic() + RESYNC_WAIT
        while not answer.done and time.monotonic() < deadline and not c.closed:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        record.ended = True
        record.shown = answer.text if answer.done else None
        expected = "stopped" if kind == "stopped" else "complete"
        if record.status != expected:
            raise SoakError(f"the answer ended {record.status!r}, expected {expected!r}")
        return record

    async def search(self) -> None:
        word = self.rng.choice(SEARCH_WORDS)
        await self.call(SET_SEARCH_QUERY, {"query": word}, lambda f: f.var(SIDEBAR, "search_query") == word, "search")
        await self.call(SET_SEARCH_QUERY, {"query": ""}, lambda f: f.var(SIDEBAR, "search_query") == "", "clear search")

    async def rename(self) -> None:
        target = self.rng.choice(self.created + self.seeded)
        self.count += 1
        title = f"Renamed by {self.name} #{self.count} {uuid.uuid4().hex[:6]}"
        await self.call(
            ASK_RENAME, {"conversation_id": target}, lambda f: f.var(SIDEBAR, "rename_id") == target, "rename dialog"
        )
        await self.call(SET_RENAME_TITLE, {"title": title}, lambda f: f.var(SIDEBAR, "rename_title") == title, "title")
        await self.call(CONFIRM_RENAME, None, lambda f: f.var(SIDEBAR, "rename_id") == 0, "rename")
        self.soak.tally.renamed[target] = title

    async def delete(self) -> None:
        target = self.rng.choice(self.created)
        await self.call(
            ASK_DELETE, {"conversation_id": target}, lambda f: f.var(SIDEBAR, "delete_id") == target, "delete dialog"
        )
        await self.call(CONFIRM_DELETE, None, lambda f: f.var(SIDEBAR, "delete_id") == 0, "delete")
        self.created.remove(target)
        self.soak.tally.deleted[target] = time.time()
        self.soak.tally.renamed.pop(target, None)
        if self.current == target:
            self.current = 0  # the app sends the tab to /chat


# --- measuring the back end ----------------------------------------------------------------------


def folder_stats(folder: Path) -> tuple[int, int]:
    """(files, bytes) under folder."""
    files = size = 0
    if folder.is_dir():
        for path in folder.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file():
                    files += 1
                    size += path.stat().st_size
    return files, size


def file_mb(path: Path) -> float:
    try:
        return round(path.stat().st_size / 1e6, 3)
    except OSError:
        return 0.0


def proc_status(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class LogWatch:
    """Reads the app's output (server.out: the log records and Reflex's own output) as it grows:
    ERROR and CRITICAL records and tracebacks not inside one are errors; warnings are counted by kind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.errors: list[str] = []
        self.warnings: Counter = Counter()
        self.worker_pids: list[int] = []
        self._level = ""

    def read(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            match = HEADER.match(line)
            if match:
                level, logger, message = match.groups()
                self._level = level
                if level in ("ERROR", "CRITICAL"):
                    self.errors.append(line[:300])
                elif level == "WARNING":
                    self.warnings[re.sub(r"\d+", "N", f"{logger}: {message}")[:90]] += 1
                started = WORKER_STARTED.search(message)
                if started:
                    self.worker_pids.append(int(started.group(1)))
            elif line.startswith("Traceback (most recent call last)") and self._level not in ("ERROR", "CRITICAL"):
                self.errors.append(f"traceback outside a log record: {line[:200]}")
                self._level = "ERROR"  # its lines belong to it


class Soak:
    """The run: users, samples, backups, and what was seen."""

    def __init__(self, run: Running, opts: Options, accounts: list[tuple[str, list[int]]]) -> None:
        self.run = run
        self.opts = opts
        self.url = run.app.url
        self.extras = compiled_hydrate_extras(run.web_dir)
        self.tag = uuid.uuid4().hex[:6]
        self.tally = Tally()
        self.users = [SoakUser(self, n, name, conversations) for n, (name, conversations) in enumerate(accounts)]
        self.samples: list[dict[str, Any]] = []
        self.backups: list[dict[str, Any]] = []
        self.emulator_asks: dict[int, dict[str, Any]] = {}
        self.log = LogWatch(run.app.log_path)
        self.probe_dir = probe_dir(run.data_dir)
        self.http: httpx.AsyncClient | None = None
        self.t0 = time.monotonic()
        self.closed_at = 0.0

    # -- the run ---------------------------------------------------------------------------------

    async def wait_for_probe(self, seconds: float = 30) -> None:
        """Until the worker's probe has written once (its first sample would lack tasks and states)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pid = await asyncio.to_thread(self.worker_pid)
            if pid and self.probe(pid).get("states") is not None:
                return
            await asyncio.sleep(0.5)
        print("warning: the probe inside the back end did not answer: no tasks and states", flush=True)

    async def drive(self) -> None:
        opts = self.opts
        await self.wait_for_probe()
        self.t0 = time.monotonic()
        self.tally.started = self.t0
        deadline = self.t0 + opts.minutes * 60
        stagger = min(1.0, opts.pace / 2)
        async with httpx.AsyncClient(base_url=self.url, timeout=opts.timeout) as self.http:
            sampler = asyncio.create_task(self.sample_until(deadline))
            backups = asyncio.create_task(self.backup_until(deadline))
            try:
                await asyncio.gather(*(u.run(self.t0 + u.n * stagger, deadline) for u in self.users))
                self.closed_at = time.monotonic()
            finally:
                sampler.cancel()
                backups.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                with contextlib.suppress(asyncio.CancelledError):
                    await backups
        # After the users closed their tabs (shown, not in the trends): what a quiet back end keeps.
        for pause in self.opts.after_seconds:
            await asyncio.sleep(max(0.0, self.closed_at + pause - time.monotonic()))
            self.samples.append(await asyncio.to_thread(self.sample) | {"after": True})
        await asyncio.to_thread(self.fetch_emulator_log)

    async def sample_until(self, deadline: float) -> None:
        k = 0
        while True:
            self.samples.append(await asyncio.to_thread(self.sample))
            k += 1
            at = self.t0 + k * self.opts.sample_seconds
            if at > deadline:
                return
            await asyncio.sleep(max(0.0, at - time.monotonic()))

    async def backup_until(self, deadline: float) -> None:
        interval = self.opts.backup_minutes * 60
        k = 1
        while self.t0 + k * interval < deadline - 5:
            await asyncio.sleep(max(0.0, self.t0 + k * interval - time.monotonic()))
            self.backups.append(await asyncio.to_thread(self.backup_once, k))
            k += 1

    # -- samples ---------------------------------------------------------------------------------

    def worker_pid(self) -> int:
        """The back-end worker: the last process that logged "back end started", if it still runs."""
        self.log.read()
        tree = set(process_tree(self.run.app.process.pid))
        for pid in reversed(self.log.worker_pids):
            if pid in tree:
                return pid
        return 0

    def probe(self, pid: int) -> dict[str, Any]:
        path = self.probe_dir / f"probe-{pid}.json"
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if time.time() - data.get("time", 0) < 60:
                return data
        return {}

    def sample(self) -> dict[str, Any]:
        pid = self.worker_pid()
        data_dir = self.run.data_dir
        db = data_dir / "fabrix_chat.db"
        uploads_files, uploads_bytes = folder_stats(data_dir / "uploads")
        _, backup_bytes = folder_stats(data_dir / "backups")
        state_files, state_bytes = folder_stats(states_folder(data_dir))
        probe = self.probe(pid) if pid else {}
        cpu = proc_cpu_seconds(pid) if pid else 0.0
        now = time.monotonic()
        self.fetch_emulator_log()
        tree = process_tree(self.run.app.process.pid)
        tally = self.tally
        return {
            "minute": round((now - self.t0) / 60, 3),
            "pid": pid,
            "rss_mb": round(proc_rss_mb(pid), 1) if pid else None,
            "tree_rss_mb": round(sum(proc_rss_mb(p) for p in tree), 1),
            "fds": open_fds(pid) if pid else None,
            "threads": proc_status(pid, "Threads") if pid else None,
            "tasks": probe.get("tasks"),
            "task_kinds": probe.get("task_kinds"),
            "states": probe.get("states"),
            "cpu_seconds": round(cpu, 1),
            "db_mb": file_mb(db),
            "wal_mb": file_mb(Path(f"{db}-wal")),
            "shm_mb": file_mb(Path(f"{db}-shm")),
            "uploads_files": uploads_files,
            "uploads_mb": round(uploads_bytes / 1e6, 3),
            "backups_mb": round(backup_bytes / 1e6, 1),
            "state_files": state_files,
            "state_files_mb": round(state_bytes / 1e6, 3),
            "errors": len(tally.errors) + len(self.log.errors),
            "asks": len(tally.asks),
            "actions": sum(tally.actions.values()),
            "load_avg": round(os.getloadavg()[0], 2),
        }

    def fetch_emulator_log(self) -> None:
        """The emulator's log of asks, read as it goes (it keeps the last 2000): every ask younger
        than two minutes is read again, as its answer may still grow."""
        young = [i for i, a in self.emulator_asks.items() if time.time() - (a.get("t_request") or 0) < 120]
        since = min(young) - 1 if young else max(self.emulator_asks, default=0)
        with contextlib.suppress(httpx.HTTPError, ValueError):
            for entry in httpx.get(f"{self.run.emulator.url}/_bench/asks", params={"since": since}, timeout=30).json():
                self.emulator_asks[entry["id"]] = entry

    # -- backups ---------------------------------------------------------------------------------

    def backup_once(self, k: int) -> dict[str, Any]:
        """`manage backup` while the users work, then `manage check` on that copy."""
        started_utc = dt.datetime.now(dt.UTC)
        minute = round((time.monotonic() - self.t0) / 60, 2)
        t = time.perf_counter()
        done = manage(["backup"], self.run.app.secrets)
        seconds = time.perf_counter() - t
        result: dict[str, Any] = {
            "n": k,
            "minute": minute,
            "started_utc": started_utc.isoformat(),
            "seconds": round(seconds, 2),
            "rc": done.returncode,
            "output": (done.stdout + done.stderr).strip()[-400:],
        }
        match = re.search(r"Backup written to (.+?) \(", done.stdout)
        if done.returncode != 0 or not match:
            self.tally.error("backup", "manage", result["output"])
            return result
        path = Path(match.group(1))
        result.update(path=str(path), size_mb=file_mb(path))
        checked = check_copy(path, self.run.data_dir.parent / f"{self.run.data_dir.name}-checks" / str(k))
        result.update(check_rc=checked.returncode, check_output=(checked.stdout + checked.stderr).strip()[-400:])
        if checked.returncode != 0:
            self.tally.error("backup check", "manage", result["check_output"])
        print(f"[{minute:7.2f} min] backup {k}: {seconds:.1f} s, check rc {checked.returncode}", flush=True)
        return result


def manage_env(secrets: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIX_SOAK_") and k != "PYTHONPATH"}
    env["FABRIX_CHAT_SECRETS"] = str(secrets)
    return env


def manage(args: list[str], secrets: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fabrix_chat.manage", *args],
        cwd=ROOT,
        env=manage_env(secrets),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_copy(db_file: Path, folder: Path) -> subprocess.CompletedProcess:
    """`manage check` on one database file (a secrets.toml in `folder` whose database is it)."""
    folder.mkdir(parents=True, exist_ok=True)
    secrets = folder / "secrets.toml"
    secrets.write_text(
        f'[server]\ndata_dir = "{folder.as_posix()}"\n[database]\nurl = "sqlite:///{db_file.as_posix()}"\n',
        encoding="utf-8",
    )
    return manage(["check"], secrets)


def states_folder(data_dir: Path) -> Path:
    """Where Reflex's default state manager in service mode (StateManagerDisk) writes every tab's
    state: `states/` in the data folder (rxconfig sets REFLEX_STATES_WORKDIR), unless the
    environment names another folder."""
    folder = Path(os.environ.get("REFLEX_STATES_WORKDIR", data_dir / "states"))
    return folder if folder.is_absolute() else ROOT / folder


def probe_dir(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}-probe"


# --- after the run: what the database holds ------------------------------------------------------


def _utc(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def check_messages(
    tally: Tally, emulator_asks: dict[int, dict[str, Any]], db_path: Path, first_new_id: int
) -> dict[str, Any]:
    """Every saved question and its answer in the final database, against the emulator's log and
    what the tab was shown; renames and deletes too."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT q.content, q.conversation_id, a.content, a.status FROM messages q"
            " LEFT JOIN messages a ON a.parent_id = q.id AND a.role = 'assistant'"
            " WHERE q.role = 'user' AND q.id >= ?",
            (first_new_id,),
        ).fetchall()
        conversations = dict(db.execute("SELECT id, title FROM conversations").fetchall())
    finally:
        db.close()
    saved = defaultdict(list)
    for question, conversation_id, answer, status in rows:
        saved[question].append((conversation_id, answer, status))
    received = Counter(a.get("question") for a in emulator_asks.values() if a.get("question"))
    sent = {a["question"]: a for a in emulator_asks.values() if a.get("question")}
    lost, different, not_shown, twice, gone_with_chat = [], [], [], [], 0
    by_kind = Counter()
    for record in tally.asks:
        q = record.question
        by_kind[record.kind] += 1
        if received[q] > 1:
            twice.append(f"{q[:60]}: the emulator got it {received[q]} times")
        found = saved.get(q)
        if not found:
            if record.conversation_id in tally.deleted and tally.deleted[record.conversation_id] >= record.t_sent:
                gone_with_chat += 1
            else:
                lost.append(f"{q[:70]}: not in the database")
            continue
        if len(found) > 1:
            twice.append(f"{q[:60]}: saved {len(found)} times")
        _conversation_id, answer, status = found[0]
        emulated = sent.get(q)
        if answer is None:
            lost.append(f"{q[:70]}: the answer is missing")
            continue
        if emulated is None or emulated.get("status") != 200:
            lost.append(f"{q[:70]}: the emulator has no successful ask for it")
            continue
        expected = emulated.get("answer") or ""
        if record.kind == "stopped":
            ok = status == "stopped" and expected.startswith(answer)
        else:
            ok = status == "complete" and answer == expected
        if not ok:
            different.append(
                f"{q[:50]}: sent {len(expected)} chars, saved {len(answer)} ({status}), kind {record.kind}"
            )
        if record.shown is None:
            not_shown.append(f"{q[:60]}: the tab's buffer never ended")
        elif record.shown != answer:
            different.append(f"{q[:50]}: shown {len(record.shown)} chars, saved {len(answer)} ({status})")
    soak_questions = {r.question for r in tally.asks}
    unexpected = [q[:70] for q in received if q.startswith("Soak ") and q not in soak_questions]
    renames_lost = [
        f"{cid}: {conversations.get(cid)!r} instead of {title!r}"
        for cid, title in tally.renamed.items()
        if cid in conversations and conversations[cid] != " ".join(title.split())
    ]
    deletes_lost = [str(cid) for cid in tally.deleted if cid in conversations]
    return {
        "asks_saved": len(tally.asks),
        "by_kind": dict(by_kind),
        "gone_with_their_deleted_chat": gone_with_chat,
        "lost": lost,
        "different": different,
        "not_shown": not_shown,
        "asked_or_saved_twice": twice,
        "emulator_asks_not_sent_by_a_user": unexpected,
        "renames": len(tally.renamed),
        "renames_lost": renames_lost,
        "deletes": len(tally.deleted),
        "deletes_lost": deletes_lost,
    }


def snapshot(db_path: Path, to: Path) -> Path:
    """A consistent copy of a SQLite file (its WAL included), made with the backup API."""
    to.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as src:
        with contextlib.closing(sqlite3.connect(to)) as dst:
            src.backup(dst)
    return to


def restore_check(data_dir: Path, backup: dict[str, Any], tally: Tally, first_new_id: int) -> dict[str, Any]:
    """With the app stopped: `manage restore --yes` of the last backup into a scratch copy of the
    final database, `manage check` on it, and what it lost compared with the final database."""
    scratch = data_dir.parent / f"{data_dir.name}-restore"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    final = snapshot(data_dir / "fabrix_chat.db", scratch / "final.db")
    target = scratch / "data"
    target.mkdir()
    shutil.copyfile(final, target / "fabrix_chat.db")
    secrets = target / "secrets.toml"
    secrets.write_text(f'[server]\ndata_dir = "{target.as_posix()}"\n', encoding="utf-8")
    restored = manage(["restore", backup["path"], "--yes"], secrets)
    checked = manage(["check"], secrets)
    result: dict[str, Any] = {
        "backup": Path(backup["path"]).name,
        "backup_minute": backup["minute"],
        "restore_rc": restored.returncode,
        "restore_output": (restored.stdout + restored.stderr).strip()[-400:],
        "check_rc": checked.returncode,
        "check_output": (checked.stdout + checked.stderr).strip()[-300:],
    }
    if restored.returncode != 0:
        return result
    began = _utc(backup["started_utc"])
    query = "SELECT id, conversation_id, status, length(content), created_at FROM messages"
    with contextlib.closing(sqlite3.connect(final)) as db:
        after = {row[0]: row for row in db.execute(query)}
        after_text = dict(db.execute("SELECT id, content FROM messages WHERE id >= ?", (first_new_id,)))
    with contextlib.closing(sqlite3.connect(target / "fabrix_chat.db")) as db:
        before = {row[0]: row for row in db.execute(query)}
        before_text = dict(db.execute("SELECT id, content FROM messages WHERE id >= ?", (first_new_id,)))
    missing_before, missing_after, in_flight = [], 0, 0
    for mid, (_, _, _, _, created) in after.items():
        if mid in before:
            continue
        created_at = _utc(created)
        if created_at >= began:
            missing_after += 1
        elif created_at >= began - dt.timedelta(seconds=IN_FLIGHT_SLACK):
            in_flight += 1
        else:
            missing_before.append(f"message {mid} created {created} (backup began {began.isoformat()})")
    deleted_later = {
        mid
        for mid, row in before.items()
        if mid not in after and tally.deleted.get(row[1], 0) >= began.timestamp() - IN_FLIGHT_SLACK
    }
    unexplained_gone = [mid for mid in before if mid not in after and mid not in deleted_later]
    streaming, changed = 0, []
    for mid, row in before.items():
        if mid not in after:
            continue
        if row[2] == "streaming":
            streaming += 1  # still being written when the backup was taken
            continue
        later = after[mid]
        if (row[2], row[3]) != (later[2], later[3]) or before_text.get(mid) != after_text.get(mid):
            changed.append(f"message {mid}: {row[2]} {row[3]} chars in the backup, {later[2]} {later[3]} now")
    result.update(
        messages_in_backup=len(before),
        messages_now=len(after),
        missing_created_after_backup=missing_after,
        missing_in_flight_at_backup=in_flight,
        missing_created_before_backup=missing_before[:20],
        deleted_after_backup=len(deleted_later),
        in_backup_gone_unexplained=unexplained_gone[:20],
        streaming_at_backup=streaming,
        changed_unexplained=changed[:20],
        loses_only_later=not missing_before and not unexplained_gone and not changed,
    )
    return result


# --- numbers and the figure ------------------------------------------------------------------------


def trends(samples: list[dict[str, Any]], start_minute: float) -> dict[str, Any]:
    """Slope per hour, first, last, min and max of each sampled number over the window."""
    window = [s for s in samples if s["minute"] >= start_minute and not s.get("after")]
    out: dict[str, Any] = {}
    keys = (
        "rss_mb",
        "tree_rss_mb",
        "fds",
        "threads",
        "tasks",
        "states",
        "wal_mb",
        "db_mb",
        "uploads_mb",
        "state_files_mb",
    )
    for key in keys:
        values = [s[key] for s in window if s.get(key) is not None]
        slope = slope_per_hour([(s["minute"], s[key]) for s in window])
        out[key] = {
            "slope_per_hour": None if slope is None else round(slope, 3),
            "first": values[0] if values else None,
            "last": values[-1] if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "mean": round(sum(values) / len(values), 2) if values else None,
        }
    return out


def flat(trend: dict[str, Any], window_minutes: float) -> bool:
    """The fitted line moves by at most max(3, 5 % of the mean) over the window."""
    if trend["slope_per_hour"] is None or trend["mean"] is None:
        return False
    change = abs(trend["slope_per_hour"]) * window_minutes / 60
    return change <= max(3.0, 0.05 * abs(trend["mean"]))


# --- the whole run ---------------------------------------------------------------------------------


def prepare_accounts(opts: Options):
    """What to do to the copied database before the app starts: the users' accounts (new ones in a
    fresh database) and their small conversations; returns (accounts, first new message id)."""

    def prepare(db_path: Path) -> tuple[list[tuple[str, list[int]]], int]:
        if not opts.seeded:
            import bcrypt

            from fabrix_chat.db import make_engine, session_scope
            from fabrix_chat.repo import users as users_repo

            migrate(db_path.parent)
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cheap: not what is measured
            engine = make_engine(f"sqlite:///{db_path.as_posix()}")
            try:
                with session_scope(engine) as session:
                    for n in range(opts.users):
                        users_repo.create_user(
                            session=session,
                            username=f"soak{n:02d}",
                            email=f"soak{n:02d}@example.com",
                            password_hash=hashed,
                        )
            finally:
                engine.dispose()
        names = [username(n) if opts.seeded else f"soak{n:02d}" for n in range(opts.users)]
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            ids = dict(db.execute("SELECT username, id FROM users"))
            small = defaultdict(list)
            for user_id, conversation_id in db.execute(
                "SELECT c.user_id, c.id FROM conversations c JOIN messages m ON m.conversation_id = c.id"
                " GROUP BY c.id HAVING count(*) <= 20"
            ):
                small[user_id].append(conversation_id)
            first_new = (db.execute("SELECT max(id) FROM messages").fetchone()[0] or 0) + 1
        return [(name, sorted(small.get(ids[name], []))) for name in names], first_new

    return prepare


def run_soak(opts: Options, *, take_lock: bool = True) -> dict[str, Any]:
    """The soak from start to end; returns the results (written by main, checked by the test)."""
    info = machine()
    name = opts.run_name
    from bench.common import WORK

    probe = probe_dir(WORK / "runs" / name)
    shutil.rmtree(probe, ignore_errors=True)
    probe.mkdir(parents=True)
    saved_env = {k: os.environ.get(k) for k in ("PYTHONPATH", "FABRIX_SOAK_PROBE_DIR", "FABRIX_SOAK_PROBE_SECONDS")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(PROBE_DIR), *filter(None, [saved_env["PYTHONPATH"]])])
    os.environ["FABRIX_SOAK_PROBE_DIR"] = str(probe)
    os.environ["FABRIX_SOAK_PROBE_SECONDS"] = str(max(1.0, min(5.0, opts.sample_seconds / 4)))
    try:
        with running_app(name, seeded=opts.seeded, prepare=prepare_accounts(opts), take_lock=take_lock) as run:
            accounts, first_new_id = run.prepared
            soak = Soak(run, opts, accounts)
            print(
                f"soak: {opts.users} users for {opts.minutes:g} min, samples every {opts.sample_seconds:g} s, "
                f"backups every {opts.backup_minutes:g} min; app log {run.app.log_path}",
                flush=True,
            )
            asyncio.run(soak.drive())
            soak.log.read()
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    # The app is stopped: the database as it was left, and the last backup restored beside it.
    with build_lock() if take_lock else contextlib.nullcontext():
        data_dir = run.data_dir
        checks = check_messages(soak.tally, soak.emulator_asks, run.db_path, first_new_id)
        good = [b for b in soak.backups if b.get("check_rc") == 0]
        restore = restore_check(data_dir, good[-1], soak.tally, first_new_id) if good else {}
        uploads_files, uploads_bytes = folder_stats(data_dir / "uploads")
        wal_after_stop = file_mb(data_dir / "fabrix_chat.db-wal")
    return summarise(opts, info, soak, checks, restore, uploads_files, uploads_bytes, wal_after_stop)


def summarise(opts, info, soak: Soak, checks, restore, uploads_files, uploads_bytes, wal_after_stop) -> dict[str, Any]:
    tally = soak.tally
    samples = soak.samples
    during = [s for s in samples if not s.get("after")]
    minutes = during[-1]["minute"] if during else opts.minutes
    window_start = max(0.0, minutes - opts.window)
    trend = trends(samples, window_start)
    errors = tally.errors + [{"action": "app output", "error": e} for e in soak.log.errors]
    lost = len(checks["lost"]) + len(checks["not_shown"])
    problems = (
        len(checks["different"])
        + len(checks["asked_or_saved_twice"])
        + len(checks["emulator_asks_not_sent_by_a_user"])
        + len(checks["renames_lost"])
        + len(checks["deletes_lost"])
    )
    held = sum(u.files_held for u in soak.users)
    orphans = max(0, uploads_files - held - tally.files_held_closed_tabs)
    rss = trend["rss_mb"]["slope_per_hour"]
    wal_max = max((s["wal_mb"] for s in samples), default=0.0)
    passed = sum(1 for b in soak.backups if b.get("rc") == 0 and b.get("check_rc") == 0)
    result: dict[str, Any] = {
        "benchmark": "soak",
        "machine": info,
        "load_avg_at_end": load_average(),
        "users": opts.users,
        "minutes": opts.minutes,
        "pace": opts.pace,
        "options": dataclasses.asdict(opts),
        "action_weights": ACTIONS,
        "actions": dict(tally.actions),
        "actions_total": sum(v for k, v in tally.actions.items() if "failed" not in k),
        "action_seconds": {k: summary(v) for k, v in tally.seconds.items()},
        "errors": {"count": len(errors), "first": errors[:30]},
        "app_warnings": dict(soak.log.warnings.most_common(20)),
        "worker_pids": soak.log.worker_pids,
        "checks": checks,
        "window": {"from_minute": round(window_start, 2), "minutes": round(minutes - window_start, 2)},
        "trends": trend,
        "uploads": {
            "files_at_end": uploads_files,
            "bytes_at_end": uploads_bytes,
            "held_by_open_tabs": held,
            "held_by_closed_tabs": tally.files_held_closed_tabs,
            "orphans": orphans,
        },
        "wal": {
            "max_mb": wal_max,
            "last_mb": samples[-1]["wal_mb"] if samples else None,
            "after_stop_mb": wal_after_stop,
        },
        "backups": soak.backups,
        "restore": restore,
        "samples": samples,
        "notes": [
            "threads include the soak probe's one thread (bench/soak_probe/sitecustomize.py)",
            "RSS, descriptors and threads are the back-end worker's; tree_rss_mb adds the `reflex run` supervisor",
            "Reflex keeps a closed tab's state for its token expiration (redis_token_expiration, 3600 s by default), "
            "so states held grow with new tabs for the first hour",
            "in service mode Reflex keeps states in memory and writes them to data_dir/states/ "
            "(StateManagerDisk): state_files and state_files_mb",
        ],
    }
    result["targets"] = {
        "rss_growth_mb_per_hour": {
            "target": f"< {RSS_TARGET_MB_PER_HOUR}",
            "slope": rss,
            "met": rss is not None and rss < RSS_TARGET_MB_PER_HOUR,
        },
        "fds_flat": {"slope": trend["fds"]["slope_per_hour"], "met": flat(trend["fds"], opts.window)},
        "tasks_flat": {"slope": trend["tasks"]["slope_per_hour"], "met": flat(trend["tasks"], opts.window)},
        "wal_checkpointed": {
            "max_mb": wal_max,
            "slope_mb_per_hour": trend["wal_mb"]["slope_per_hour"],
            "met": wal_max < 64 and (trend["wal_mb"]["slope_per_hour"] or 0) * opts.window / 60 < 4,
            "rule": "the WAL stays under 64 MB and grows less than 4 MB (about one autocheckpoint) over the window",
        },
        "no_orphaned_uploads": {"orphans": orphans, "met": orphans == 0},
        "zero_errors": {"errors": len(errors), "met": not errors},
        "zero_lost": {"lost": lost, "other_problems": problems, "met": lost == 0 and problems == 0},
        "backups_pass_check": {
            "backups": len(soak.backups),
            "passed": passed,
            "met": bool(soak.backups) and passed == len(soak.backups),
        },
        "restore_loses_only_later": {
            "met": bool(restore.get("loses_only_later")) and restore.get("check_rc") == 0,
            "missing_after_backup": restore.get("missing_created_after_backup"),
        },
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--pace", type=float, default=5.0, help="seconds between one user's actions (on average)")
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--backup-minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=14, help="of the users' random choices")
    parser.add_argument("--name", default="", help="results name (default soak, or soak_<N>min)")
    args = parser.parse_args()
    opts = Options(
        minutes=args.minutes,
        users=args.users,
        pace=args.pace,
        sample_seconds=args.sample_seconds,
        backup_minutes=args.backup_minutes,
        seed=args.seed,
        name=args.name,
    )
    result = run_soak(opts)
    png = render_png(result, RESULTS / f"{opts.run_name}.png")
    result["figure"] = png.name
    write_results(opts.run_name, {k: v for k, v in result.items() if k != "samples"} | {"samples": result["samples"]})
    print(f"figure written to {png}")
    t = result["targets"]
    print("targets:", ", ".join(f"{k} {'met' if v['met'] else 'NOT met'}" for k, v in t.items()), flush=True)


if __name__ == "__main__":
    main()
