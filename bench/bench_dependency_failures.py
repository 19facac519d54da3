"""The servers the app depends on failing under load: what 10 streaming users see, what is lost,
and how long until everything works again without restarting the app.

    .venv/bin/python bench/bench_dependency_failures.py [--users 10] [--only SCENARIO ...]

The stack, all on loopback: PostgreSQL (tests/integration/pg.py), a redis-server that can be
restarted with its data (tests/redis_server.RestartableRedis), bench/emulator.py behind a TCP proxy
that can refuse connections and answer slowly (tests/fault_proxy.py), the app's data folder on a
64 MB tmpfs (tests/small_disk.py; skipped with the reason when mounting is not allowed) and the app
in service mode with two back-end workers. Users are signed-in websocket clients
(bench/reflex_client.py, the frames a browser tab sends), each in its own conversation.

Each scenario, on the same running app:
1. the even-numbered users ask a question whose answer streams for about 16 s (the emulator's
   `#fault:slow`); the odd-numbered ones wait for the fault and ask short questions while the
   dependency is down, once a second;
2. 3 s later the dependency fails: Redis is shut down (its data saved, as a service restart does)
   and started again 5 s later (redis_restart_empty: killed, and started again without its data,
   as a Redis without persistence comes back); 10 s in, PostgreSQL is stopped (fast shutdown:
   connections cut, the answers end while it is down) and started again 10 s later; FabriX
   refuses connections for 20 s (open streams are cut) and then answers slowly (first byte after
   2 s, 50 ms between reads); the data disk is filled to its last 2 MB for 10 s, during which an
   extra user attaches a file (it must be refused with a plain message);
3. each user, once its answer has ended, asks a short question every second until one succeeds
   after the dependency is back (an answer completed without an alert; checked afterwards against
   the emulator's log and the database).

Measured: what the users saw (the alerts' text and whether Retry was offered, Reflex's own error
toasts, questions that got no reply, closed websockets), lost text (an answer the page showed
longer than the database keeps it, a completed answer whose saved text differs from what the
emulator sent, a question answered with no trace in the database), and the recovery time per
user: from the dependency coming back to the end of the first successful question after its last
failure (0 when the user never noticed). The app is never restarted; its worker processes are
checked to be the same at the end. Results: bench/results/dependency_failures.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    WORK,
    Emulator,
    bench_toml,
    build_lock,
    load_average,
    machine,
    start_emulator,
    summary,
    write_results,
)
from bench.reflex_client import (  # noqa: E402
    AGENTS,
    CHAT,
    COMPOSER,
    PAGE,
    SEND_MESSAGE,
    Frame,
    ReflexClient,
    ask_payload,
    compiled_hydrate_extras,
)

# In this order: the last one leaves every tab without its state (as a Redis that comes back empty does).
SCENARIOS = ("fabrix_down", "disk_full", "postgres_restart", "redis_restart", "redis_restart_empty")
DISK_MB = 64
MIN_FREE_MB = 8  # [upload] min_free_mb for this run (the default, 1024, is more than the whole small disk)
LEAVE_MB = 2
# Seconds into the streaming answers (about 16 s long) the dependency fails: PostgreSQL late, so
# that the answers end while it is down (their last save must wait for it).
FAULT_AFTER = {
    "redis_restart": 3.0,
    "redis_restart_empty": 3.0,
    "postgres_restart": 10.0,
    "fabrix_down": 3.0,
    "disk_full": 3.0,
}
DOWN_SECONDS = {
    "redis_restart": 5.0,
    "redis_restart_empty": 5.0,
    "postgres_restart": 10.0,
    "fabrix_down": 20.0,
    "disk_full": 10.0,
}
SLOW = {"first_byte": 2.0, "per_read": 0.05}  # FabriX after its 20 s of refusing
ANSWER_WAIT = 90.0  # at most this long for the streaming answer to end
PROBE_WAIT = 30.0  # at most this long for a short question's answer
RECOVERY_LIMIT = 180.0  # a user not recovered this long after the dependency came back is reported as such
ERROR_TOAST = "An error occurred"
PROBLEM = re.compile(r"fabrixProblem\((\{.*\})\)$", re.S)  # state/failures.py


@dataclass
class Attempt:
    question: str
    kind: str  # "streaming" (asked before the fault) or "probe"
    t_send: float
    t_end: float = 0.0
    outcome: str = ""  # complete, error, toast, no_reply, disconnected
    status: str = ""  # how the page was told the answer ended
    alert: str = ""
    retry: bool = False
    problem: str = ""  # the plain message of an event the server could not handle (assets/problem.js)
    toasts: list[str] = field(default_factory=list)
    message_id: int = 0
    shown: str = ""  # the answer's text on the page


@dataclass
class User:
    n: int
    client: ReflexClient
    attempts: list[Attempt] = field(default_factory=list)
    reconnects: int = 0


@dataclass
class Timeline:
    t_fault: float = 0.0
    t_back: float | None = None


# --- the stack -----------------------------------------------------------------------------------


@dataclass
class Stack:
    app: Any  # tests.e2e.conftest.AppServer
    pg_url: str
    postgres: Any  # tests.integration.pg.ServerControl
    redis: Any  # tests.redis_server.RestartableRedis
    emulator: Emulator
    proxy: Any  # tests.fault_proxy.FaultProxy
    disk: Any  # tests.small_disk.SmallDisk, or None when no size-limited folder could be made
    disk_problem: str
    tokens: dict[int, str]
    web_dir: Path


def seed_users(pg_url: str, count: int) -> dict[int, str]:
    """`count` users with a signed-in session each, written straight into the database."""
    from sqlmodel import Session

    from fabrix_chat.db import make_engine
    from fabrix_chat.models import AuthSession
    from fabrix_chat.models import User as UserRow

    engine = make_engine(pg_url)
    tokens = {n: secrets.token_urlsafe(32) for n in range(count)}
    try:
        with Session(engine) as session:
            for n, token in tokens.items():
                user = UserRow(username=f"dep{n:02d}", email=f"dep{n:02d}@example.com", password_hash="-")
                session.add(user)
                session.flush()
                session.add(AuthSession(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest()))
            session.commit()
    finally:
        engine.dispose()
    return tokens


@contextlib.contextmanager
def running_stack(users: int, *, take_lock: bool = True) -> Iterator[Stack]:
    """PostgreSQL, Redis, the emulator behind its proxy, the small disk and the app with two
    workers; `take_lock=False` in the suite's short run (tests/integration/test_bench_short.py),
    which must not wait for the browser tests' lock."""
    from tests.e2e.conftest import start_app, stop_app
    from tests.fault_proxy import FaultProxy
    from tests.integration import pg
    from tests.redis_server import RestartableRedis
    from tests.small_disk import SmallDiskUnavailable, small_disk

    bindir = pg.find_bindir()
    if bindir is None:
        raise SystemExit(pg.SKIP_REASON)
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (Debian package redis-server)")
    root = WORK / "runs" / "dependency_failures"
    if root.exists():
        with contextlib.suppress(OSError):
            import subprocess

            subprocess.run(["umount", "-l", str(root / "data")], capture_output=True)
        shutil.rmtree(root)
    root.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        pg_url = stack.enter_context(pg.running_postgres(bindir, database="fabrix_bench"))
        postgres = pg.ServerControl(pg_url, bindir)
        redis = RestartableRedis(root / "redis")
        redis.start()
        stack.callback(redis.stop, keep_data=False)
        emulator = start_emulator()
        stack.callback(emulator.stop)
        proxy = FaultProxy(urlsplit(emulator.url).port)
        stack.callback(proxy.close)
        data_dir, disk, disk_problem = root / "data", None, ""
        try:
            disk = stack.enter_context(small_disk(data_dir, size_mb=DISK_MB))
        except SmallDiskUnavailable as exc:
            disk_problem = str(exc)
            print(f"disk_full will be skipped: {disk_problem}", flush=True)
        toml = bench_toml(
            Emulator(url=proxy.url, process=emulator.process),
            redis_url=redis.url,
            extra=f'[database]\nurl = "{pg_url}"\n[upload]\nmin_free_mb = {MIN_FREE_MB}\n',
        )
        if take_lock:
            stack.enter_context(build_lock())
        started = time.monotonic()
        app = start_app(data_dir, toml, workers=2, out_dir=root)
        stack.callback(stop_app, app.process)
        print(f"app up at {app.url} after {time.monotonic() - started:.0f} s", flush=True)
        tokens = seed_users(pg_url, users + 1)  # the last one attaches files in disk_full
        web_dir = data_dir.parent / f"{data_dir.name}-web"
        yield Stack(app, pg_url, postgres, redis, emulator, proxy, disk, disk_problem, tokens, web_dir)


def worker_pids(stack: Stack) -> list[str]:
    return re.findall(r"back end started \(process (\d+)\)", stack.app.log_path.read_text(errors="replace"))


# --- one user ------------------------------------------------------------------------------------


def problem_in(frame: Frame) -> str:
    """The English text of a failed event's plain message (state/failures.py), if the frame has one."""
    for script in frame.scripts():
        match = PROBLEM.search(script)
        if match:
            return str(json.loads(match.group(1))["en"]["text"])
    return ""


def toasts_in(frame: Frame) -> list[str]:
    """Reflex's own error toasts (its default backend exception handler) in a frame."""
    found = []
    for event in frame.events:
        text = json.dumps(event, ensure_ascii=False)
        if "toast" in text or ERROR_TOAST in text:
            found.append(text[:300])
    return found


async def ask(user: User, question: str, kind: str, wait: float) -> Attempt:
    """Ask in the user's conversation; the answer's end (or an alert, or an error toast) ends it."""
    client = user.client
    attempt = Attempt(question=question, kind=kind, t_send=time.time())
    user.attempts.append(attempt)
    start = len(client.frames)
    before = set(client.live.answers)

    def finished(frame: Frame) -> bool:
        return (
            frame.answer_ended() or bool(frame.var(CHAT, "alert_text")) or bool(problem_in(frame) or toasts_in(frame))
        )

    done = client.expect(finished, wait)
    try:
        await client.send(SEND_MESSAGE, ask_payload(question))
        await done
    except TimeoutError:
        attempt.outcome = "no_reply"
    except Exception:  # the websocket closed (or was closed while sending)
        attempt.outcome = "disconnected"
    attempt.t_end = time.time()
    await asyncio.sleep(0.3)  # an alert may follow the end in the next frame
    frames = client.frames[start:]
    ended_without_status = False
    for frame in frames:
        if frame.has(CHAT, "alert_text"):
            attempt.alert = str(frame.var(CHAT, "alert_text") or "")
            attempt.retry = bool(frame.var(CHAT, "alert_retry", attempt.retry))
        attempt.toasts += toasts_in(frame)
        attempt.problem = attempt.problem or problem_in(frame)
        ended = frame.ended_answer()
        if ended:
            attempt.status = str(ended.get("status") or "")
            attempt.message_id = int(ended.get("id") or client.live_id or 0)
            ended_without_status = not attempt.status
    if not attempt.message_id and client.live.last_begun and client.live.last_begun not in before:
        attempt.message_id = client.live.last_begun  # it began streaming; its end was not shown
    if attempt.message_id and ended_without_status:
        # The tab's state had lost the question (Redis went down before it was written): its end
        # showed the conversation again from the database (state/live_answer._show_lost_start).
        for frame in frames:
            for message in frame.var(PAGE, "messages") or []:
                if message.get("id") == attempt.message_id:
                    attempt.status = str(message.get("status") or "")
    if attempt.message_id:
        answer = client.live.get(attempt.message_id)
        deadline = time.monotonic() + 10
        while not answer.done and time.monotonic() < deadline and not client.closed:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # a missing batch: the page asks for the whole text
        attempt.shown = answer.text
    if not attempt.outcome:
        if attempt.alert:
            attempt.outcome = "error"
        elif attempt.problem:
            attempt.outcome = "problem"
        elif attempt.toasts:
            attempt.outcome = "toast"
        elif attempt.status == "complete":
            attempt.outcome = "complete"
        else:
            attempt.outcome = attempt.status or "no_reply"
    return attempt


async def reconnect(user: User, deadline: float) -> None:
    """What the browser does when its websocket closed: connect again (same tab) until it works."""
    path = user.client.path if user.client.path.startswith("/chat") else "/chat"
    while time.monotonic() < deadline:
        user.reconnects += 1
        try:
            await user.client.reopen(wait=10)
            await user.client.navigate(path)
            return
        except Exception:  # refused, timed out: try again, as socket.io does
            await asyncio.sleep(1)


async def run_user(user: User, tag: str, timeline: Timeline, scenario: str) -> None:
    """Even users ask a question whose answer streams through the fault; odd ones wait for the
    fault and then ask short questions while the dependency is down. Then every user asks until a
    question succeeds after the dependency is back."""
    if user.n % 2:
        while not timeline.t_fault:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await ask(user, f"{scenario} {tag} user {user.n}: probe 0, how is team {user.n} doing?", "probe", PROBE_WAIT)
        return await keep_asking(user, tag, timeline, scenario)
    await ask(
        user,
        f"{scenario} {tag} user {user.n}: plan the rollout of feature {user.n} #fault:slow",
        "streaming",
        ANSWER_WAIT,
    )
    await keep_asking(user, tag, timeline, scenario)


async def keep_asking(user: User, tag: str, timeline: Timeline, scenario: str) -> None:
    tries = 0
    while True:
        back = timeline.t_back
        last = user.attempts[-1]
        if back is not None and last.outcome == "complete" and last.t_end >= back:
            return
        if back is not None and time.time() - back > RECOVERY_LIMIT:
            return
        if user.client.closed:
            await reconnect(user, time.monotonic() + RECOVERY_LIMIT)
        await asyncio.sleep(1.0 if last.outcome != "complete" else 0.5)
        tries += 1
        await ask(
            user, f"{scenario} {tag} user {user.n}: probe {tries}, how is team {user.n} doing?", "probe", PROBE_WAIT
        )


def recovery_seconds(user: User, timeline: Timeline) -> float | None:
    """From the dependency coming back to the end of the first success after the user's last
    failure (0 when it never failed); None when it had not recovered when the scenario ended."""
    attempts = user.attempts
    failed = [i for i, a in enumerate(attempts) if a.outcome != "complete"]
    if not failed:
        return 0.0
    after = [a for a in attempts[failed[-1] + 1 :] if a.outcome == "complete"]
    if not after:
        return None
    return round(max(0.0, after[0].t_end - (timeline.t_back or after[0].t_end)), 2)


# --- uploads (disk full) -------------------------------------------------------------------------


async def upload(user: User, base_url: str, size: int) -> dict[str, Any]:
    """Attach file as the page does (POST /_upload to ComposerState.receive_upload); returns the
    chip or the alert the page then shows."""
    client = user.client
    shown = client.expect(lambda f: bool(f.var(COMPOSER, "attachment_name")) or bool(f.var(CHAT, "alert_text")), 30)
    headers = {"reflex-client-token": client.token, "reflex-event-handler": f"{COMPOSER}.receive_upload"}
    body = (b"Quarterly numbers, line after line.\n" * (size // 36 + 1))[:size]
    started = time.time()
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.post(
                f"{base_url}/_upload", headers=headers, files={"files": ("numbers.txt", body, "text/plain")}
            )
        http_status = response.status_code
    except httpx.HTTPError as exc:
        http_status = f"{type(exc).__name__}"
    try:
        frame = await shown
        alert, chip = str(frame.var(CHAT, "alert_text") or ""), str(frame.var(COMPOSER, "attachment_name") or "")
    except (TimeoutError, ConnectionError):
        alert, chip = "", ""
    if chip:
        await client.send(f"{COMPOSER}.remove_file")
    return {
        "bytes": size,
        "http_status": http_status,
        "alert": alert,
        "attached": chip,
        "seconds": round(time.time() - started, 2),
    }


# --- a scenario ----------------------------------------------------------------------------------


async def inject(scenario: str, stack: Stack, timeline: Timeline, uploader: User) -> dict[str, Any]:
    """Make the dependency fail, wait, bring it back; returns what was done and seen meanwhile."""
    notes: dict[str, Any] = {"down_seconds": DOWN_SECONDS[scenario]}
    await asyncio.sleep(FAULT_AFTER[scenario])
    timeline.t_fault = time.time()
    down = DOWN_SECONDS[scenario]
    if scenario in ("redis_restart", "redis_restart_empty"):
        await asyncio.to_thread(stack.redis.stop, keep_data=scenario == "redis_restart")
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.redis.start)
    elif scenario == "postgres_restart":
        await asyncio.to_thread(stack.postgres.stop)
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.postgres.start)
    elif scenario == "fabrix_down":
        await asyncio.to_thread(stack.proxy.refuse)
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.proxy.accept, **SLOW)
        notes["then_slow"] = SLOW
    elif scenario == "disk_full":
        await asyncio.to_thread(stack.disk.fill, LEAVE_MB)
        notes["free_mb_when_full"] = round(stack.disk.free_mb(), 1)
        notes["upload_while_full"] = await upload(uploader, stack.app.url, 1 << 20)
        await asyncio.sleep(max(0.0, down - (time.time() - timeline.t_fault)))
        await asyncio.to_thread(stack.disk.free_space)
    timeline.t_back = time.time()
    if scenario == "disk_full":
        notes["upload_after"] = await upload(uploader, stack.app.url, 1 << 20)
    return notes


def saved_rows(pg_url: str, questions: list[str]) -> dict[str, dict[str, Any]]:
    """The database's question and answer rows for each question text."""
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(pg_url)
    rows: dict[str, dict[str, Any]] = {}
    with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as db:
        for question in questions:
            row = db.execute(
                "SELECT a.content, a.status, a.error FROM messages q LEFT JOIN messages a"
                " ON a.conversation_id = q.conversation_id AND a.seq = q.seq + 1 AND a.role = 'assistant'"
                " WHERE q.role = 'user' AND q.content = %s ORDER BY q.id DESC LIMIT 1",
                (question,),
            ).fetchone()
            if row is not None:
                rows[question] = {"content": row[0], "status": row[1], "error": row[2]}
    return rows


def check_lost(users: list[User], stack: Stack) -> dict[str, list[str]]:
    """Text the users received that the database does not keep, and saved answers that differ
    from what FabriX sent."""
    attempts = [a for u in users for a in u.attempts]
    rows = saved_rows(stack.pg_url, [a.question for a in attempts])
    sent = {a.get("question"): a for a in stack.emulator.asks() if a.get("question")}
    lost, different, unsaved_questions, still_streaming = [], [], [], []
    for a in attempts:
        row = rows.get(a.question)
        label = a.question[-60:]
        if row is None:
            if a.shown or a.outcome == "complete":
                unsaved_questions.append(f"{label}: answered on the page, the question is not in the database")
            continue
        saved = row["content"] or ""
        if row["status"] == "streaming":
            still_streaming.append(f"{label}: still 'streaming' in the database ({len(saved)} chars)")
        if a.shown and not saved.startswith(a.shown):
            lost.append(
                f"{label}: the page showed {len(a.shown)} chars, the database keeps {len(saved)} ({row['status']})"
            )
        if a.outcome == "complete":
            upstream = sent.get(a.question)
            if upstream is not None and upstream.get("status") == 200 and upstream.get("answer") != saved:
                different.append(f"{label}: FabriX sent {len(upstream.get('answer') or '')} chars, saved {len(saved)}")
    return {
        "lost": lost,
        "different": different,
        "answered_without_saved_question": unsaved_questions,
        "still_streaming": still_streaming,
    }


def what_users_saw(users: list[User]) -> dict[str, Any]:
    attempts = [a for u in users for a in u.attempts]
    alerts: dict[str, dict[str, Any]] = {}
    for a in attempts:
        for text, retry, where in (
            (a.alert, a.retry, "alert in the chat"),
            (a.problem, False, "alert of a failed event"),
        ):
            if text:
                entry = alerts.setdefault(text, {"count": 0, "retry": retry, "shown_as": where, "during": set()})
                entry["count"] += 1
                entry["during"].add(a.kind)
    toasts: dict[str, int] = {}
    for a in attempts:
        for t in a.toasts:
            toasts[t] = toasts.get(t, 0) + 1
    outcomes: dict[str, dict[str, int]] = {}
    for a in attempts:
        by_kind = outcomes.setdefault(a.kind, {})
        by_kind[a.outcome] = by_kind.get(a.outcome, 0) + 1
    return {
        "outcomes": outcomes,
        "alerts": {k: {**v, "during": sorted(v["during"])} for k, v in alerts.items()},
        "toasts": toasts,
        "reconnects": sum(u.reconnects for u in users),
    }


async def run_scenario(scenario: str, stack: Stack, users: list[User], uploader: User) -> dict[str, Any]:
    stack.emulator.clear()
    for user in users:
        user.attempts, user.reconnects = [], 0
    tag = secrets.token_hex(3)
    timeline = Timeline()
    started = time.time()
    injector = asyncio.create_task(inject(scenario, stack, timeline, uploader))
    await asyncio.gather(*(run_user(u, tag, timeline, scenario) for u in users), injector)
    notes = injector.result()
    if scenario == "fabrix_down":
        stack.proxy.accept()  # full speed again for the next scenario
    await asyncio.sleep(2)  # final saves
    recovery = {u.n: recovery_seconds(u, timeline) for u in users}
    recovered = [s for s in recovery.values() if s is not None]
    result = {
        "fault_at_seconds": round(timeline.t_fault - started, 2),
        "back_at_seconds": round((timeline.t_back or 0) - started, 2),
        **notes,
        "recovery_seconds": summary(recovered),
        "users_not_recovered": [n for n, s in recovery.items() if s is None],
        "recovery_by_user": recovery,
        "seen": what_users_saw(users),
        **check_lost(users, stack),
        "attempts": [
            {"user": u.n, **{k: v for k, v in asdict(a).items() if k != "shown"}, "shown_chars": len(a.shown)}
            for u in users
            for a in u.attempts
        ],
    }
    print(
        f"{scenario}: recovery max {result['recovery_seconds']['max']} s, not recovered {result['users_not_recovered']},"
        f" lost {len(result['lost'])}, alerts {list(result['seen']['alerts'])[:3]}",
        flush=True,
    )
    return result


async def measure(stack: Stack, users_count: int, scenarios: list[str]) -> dict[str, Any]:
    extras = compiled_hydrate_extras(stack.web_dir)
    users = [
        User(n, ReflexClient(stack.app.url, hydrate_extras=extras, cookie=stack.tokens[n], record_frames=True))
        for n in range(users_count + 1)
    ]
    agents = [u.client.expect(lambda f: bool(f.var(AGENTS, "agents")), 60) for u in users]
    await asyncio.gather(*(u.client.connect("/chat", wait=60) for u in users))
    await asyncio.gather(*agents)
    uploader, users = users[-1], users[:-1]
    # Each user's conversation exists before the first fault (a new chat's redirect is not measured).
    warmup = await asyncio.gather(
        *(ask(u, f"warm-up {secrets.token_hex(3)} user {u.n}: hello", "warmup", 60) for u in users)
    )
    if any(a.outcome != "complete" for a in warmup):
        raise SystemExit(f"warm-up failed: {[(a.outcome, a.alert) for a in warmup]}")
    out: dict[str, Any] = {}
    try:
        for scenario in scenarios:
            if scenario == "disk_full" and stack.disk is None:
                out[scenario] = {"skipped": stack.disk_problem}
                continue
            out[scenario] = await run_scenario(scenario, stack, users, uploader)
            await asyncio.sleep(3)
    finally:
        await asyncio.gather(*(u.client.close() for u in [*users, uploader]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, help="run only these scenarios")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if not args.only or s in args.only]
    info = machine()
    with running_stack(args.users) as stack:
        pids_before = worker_pids(stack)
        results = asyncio.run(measure(stack, args.users, scenarios))
        pids_after = worker_pids(stack)
        app_alive = stack.app.process.poll() is None
    name = "dependency_failures" if not args.only else "dependency_failures_" + "_".join(scenarios)
    write_results(
        name,
        {
            "benchmark": "dependency_failures",
            "machine": info,
            "load_avg_at_end": load_average(),
            "users": args.users,
            "workers": 2,
            "stack": "PostgreSQL, Redis, FabriX (emulator behind a proxy), data folder on a 64 MB tmpfs",
            "app_never_restarted": {"alive": app_alive, "worker_pids_before": pids_before, "after": pids_after},
            "scenarios": results,
        },
    )


if __name__ == "__main__":
    main()
