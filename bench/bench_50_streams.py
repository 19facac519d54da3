"""50 users streaming at once: errors, lost or truncated answers (must be zero), first token,
backend CPU and memory.

    .venv/bin/python bench/bench_50_streams.py [--users 50] [--workers 2 --redis]

50 signed-in websocket clients (bench/reflex_client.py, the frames a browser tab sends) open /chat
and all ask at the same moment, twice:

1. "short": a new chat each, a normal demo answer (about 1 KB, about 100 stream events);
2. "long": a follow-up in that chat with the emulator's `#fault:long` switch, an answer of about
   100 KB (about 5,000 stream events), so the 50 streams really overlap.

Batches are not state vars: each arrives as a `_call_script` event with
`fabrixLive.push(id, first, last, "added text", status)` (parts numbered from 1); the answer ends with a delta that sets LiveAnswerState.streaming to
false and appends it to ConversationState.added with `live: true` and empty content. The client
(bench/reflex_client.LiveBuffer) keeps the page's buffer as assets/chat.js does, including the
`reset` a new chat's redirect brings (its page load asks for the whole text so far) and a
`resync` when a batch is missing.

Every answer is then checked: the text the emulator sent for that question (its log), the text the
app saved in the database, the concatenation of every pushed batch (parts 1..N, no hole: a missing
or short one is a lost or truncated message) and the text the page's buffer finally shows must all
be equal, the buffer must have ended (`end` with N parts), the saved status must be "complete" and
the answer appended to `added` must be live with empty content. First token = the first update in
which the client sees answer text (a push with text, or the end); "added by the app" subtracts the
moment the emulator sent the first answer text (both on this machine's wall clock). CPU and memory
are read from /proc for the app's process tree (with --workers 2, both back-end workers).

`--workers 2 --redis`: a redis-server started here, `[rate_limit] redis_url` pointing at it (Reflex
keeps the tabs' state there; the limiter and the live board use it) and two back-end workers
(GRANIAN_WORKERS=2, as tests/e2e/conftest.start_app sets it); the 50 websockets spread over both.
Results: bench/results/50_streams.json (50_streams_workers2_redis.json etc. in that mode).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    RedisServer,
    Running,
    TreeSampler,
    driver_cpu_seconds,
    load_average,
    machine,
    redis_server,
    running_app,
    summary,
    write_results,
)
from bench.reflex_client import (  # noqa: E402
    AGENTS,
    CHAT,
    LIVE,
    SEND_MESSAGE,
    Frame,
    ReflexClient,
    ask_payload,
    compiled_hydrate_extras,
)

MEMORY_TARGET_MB = 512
FIRST_TOKEN_TARGET = 0.100
RESYNC_WAIT = 10.0  # seconds a client whose buffer missed a batch waits for the whole text


def visible_text(frame: Frame) -> bool:
    """The frame shows answer text: a push with text, or the end of the answer."""
    return frame.shows_answer_text()


async def ask_all(clients: list[ReflexClient], questions: list[str], wait: float) -> list[dict[str, Any]]:
    """Every client asks its question at once; returns what each saw and when."""
    offset = time.time() - time.perf_counter()

    async def one(client: ReflexClient, question: str) -> dict[str, Any]:
        client.frames.clear()
        saved = client.expect(lambda f: f.var(LIVE, "streaming") is True or bool(f.var(CHAT, "alert_text")), wait)
        first = client.expect(visible_text, wait)
        end = client.expect(lambda f: f.answer_ended(), wait)
        t0 = time.perf_counter()
        result: dict[str, Any] = {"question": question, "t_send": t0 + offset, "error": ""}
        try:
            await client.send(SEND_MESSAGE, ask_payload(question))
            await saved
            first_frame = await first
            end_frame = await end
        except Exception as exc:  # timeouts and lost connections are errors of this run
            result["error"] = f"{type(exc).__name__}: {exc}"
            return result
        ended = end_frame.ended_answer() or {}
        message_id = int(ended.get("id") or client.live_id or client.live.last_begun or 0)
        answer = client.live.get(message_id)
        if not answer.done:
            # A batch went missing: the page asks for the whole text (resync); so did the client.
            deadline = time.monotonic() + RESYNC_WAIT
            while not answer.done and time.monotonic() < deadline and not client.closed:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        alerts = [f.var(CHAT, "alert_text") for f in client.frames if f.var(CHAT, "alert_text")]
        stream_frames = [f for f in client.frames if f.live]
        protocol = []
        if not ended.get("live"):
            protocol.append(f"the answer did not end as a live answer: {str(ended)[:120]}")
        elif ended.get("content"):
            protocol.append(f"the ended answer was sent again ({len(ended['content'])} chars of content)")
        if answer.end_parts is None:
            protocol.append("the ended answer did not say how many batches it was sent")
        if answer.t_begin is None:
            protocol.append("no batch numbered 1")
        result.update(
            t_first_visible=first_frame.t + offset,
            t_end=end_frame.t + offset,
            message_id=message_id,
            shown=answer.text if answer.done else None,
            pushed=answer.pushed_text(),
            pushes_contiguous=answer.pushes_contiguous(),
            pushes=len(answer.push_parts),
            parts=answer.end_parts,
            gaps=answer.gaps,
            resets=answer.resets,
            shown_status=ended.get("status"),
            protocol=protocol,
            alerts=alerts,
            stream_frames=len(stream_frames),
            stream_bytes=sum(f.nbytes for f in stream_frames),
            conversation_path=client.path,
        )
        if alerts:
            result["error"] = f"alert: {alerts[0]}"
        return result

    return await asyncio.gather(*(one(c, q) for c, q in zip(clients, questions, strict=True)))


def check(results: list[dict[str, Any]], asks: list[dict[str, Any]], db_path: Path) -> dict[str, Any]:
    """Compare, per question, what the emulator sent, what the database holds and what was shown."""
    by_question = {a["question"]: a for a in asks if a.get("question")}
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    errors, lost, truncated, different, protocol = [], [], [], [], []
    gaps = resets = 0
    first_token_added, first_token_abs, total, before_upstream = [], [], [], []
    for r in results:
        q = r["question"]
        if r["error"]:
            errors.append(f"{q[:40]}: {r['error']}"[:200])
            continue
        sent = by_question.get(q)
        if sent is None or sent.get("status") != 200:
            errors.append(f"{q[:40]}: the emulator got no successful ask ({sent and sent.get('status')})")
            continue
        expected = sent["answer"]
        row = db.execute(
            "SELECT a.content, a.status FROM messages q JOIN messages a"
            " ON a.conversation_id = q.conversation_id AND a.seq = q.seq + 1"
            " WHERE q.role = 'user' AND q.content = ? AND a.role = 'assistant'",
            (q,),
        ).fetchone()
        if row is None:
            lost.append(q[:60])
            continue
        saved, status = row
        pushed, shown = r["pushed"], r["shown"]
        gaps += r["gaps"]
        resets += r["resets"]
        if r["protocol"]:
            protocol.append(f"{q[:40]}: {'; '.join(r['protocol'])}"[:200])
        if shown is None:
            # The buffer never ended (a batch missing and no whole text after resync): lost on the page.
            lost.append(f"{q[:40]}: the page's buffer did not end ({len(pushed)} chars pushed, {r['gaps']} gaps)")
        elif (
            saved != expected or status != "complete" or pushed != saved or not r["pushes_contiguous"] or shown != saved
        ):
            short = [t for t in (saved, pushed, shown) if len(t) < len(expected) and expected.startswith(t)]
            target = truncated if short else different
            target.append(
                f"{q[:40]}: sent {len(expected)} chars, saved {len(saved)} ({status}), pushed {len(pushed)}"
                f" in {r['pushes']} pushes (parts {r['parts']}, contiguous {r['pushes_contiguous']}),"
                f" shown {len(shown)}"
            )
        first_token_added.append(r["t_first_visible"] - sent["t_first_text"])
        first_token_abs.append(r["t_first_visible"] - r["t_send"])
        before_upstream.append(sent["t_request"] - r["t_send"])
        total.append(r["t_end"] - r["t_send"])
    db.close()
    return {
        "asks": len(results),
        "errors": errors,
        "lost": lost,
        "truncated": truncated,
        "different": different,
        "protocol": protocol,
        "batch_gaps_seen": gaps,
        "resets_received": resets,
        "first_token_added_by_app_seconds": summary(first_token_added),
        "first_token_from_send_seconds": summary(first_token_abs),
        "send_to_upstream_request_seconds": summary(before_upstream),
        "answer_complete_from_send_seconds": summary(total),
        "answer_chars": summary(
            [len(by_question[r["question"]]["answer"]) for r in results if r["question"] in by_question]
        ),
        "stream_frames_per_answer": summary([r.get("stream_frames", 0) for r in results if not r["error"]]),
        "stream_bytes_per_answer": summary([r.get("stream_bytes", 0) for r in results if not r["error"]]),
        "pushes_per_answer": summary([r.get("pushes", 0) for r in results if not r["error"]]),
        "emulator_first_text_after_request_seconds": summary(
            [
                by_question[q]["t_first_text"] - by_question[q]["t_request"]
                for q in by_question
                if by_question[q]["t_first_text"]
            ]
        ),
    }


async def measure(run: Running, users: int, wait: float) -> dict[str, Any]:
    extras = compiled_hydrate_extras(run.web_dir)
    clients = [
        ReflexClient(run.app.url, hydrate_extras=extras, cookie=run.tokens[n], record_frames=True) for n in range(users)
    ]
    agents = [c.expect(lambda f: bool(f.var(AGENTS, "agents")), wait) for c in clients]
    await asyncio.gather(*(c.connect("/chat", wait=wait) for c in clients))
    await asyncio.gather(*agents)
    tag = uuid.uuid4().hex[:8]
    phases = {
        "short": [f"Stream test {tag} user {n}: how should I plan topic{n} for next week?" for n in range(users)],
        "long": [f"Stream test {tag} user {n}: explain detail{n} at length #fault:long" for n in range(users)],
    }
    out: dict[str, Any] = {}
    try:
        for phase, questions in phases.items():
            run.emulator.clear()
            started = time.monotonic()
            results = await ask_all(clients, questions, wait)
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.5)
            out[phase] = {"wall_seconds": round(elapsed, 2), **check(results, run.emulator.asks(), run.db_path)}
            print(f"phase {phase}: {elapsed:.1f} s, errors {len(out[phase]['errors'])}", flush=True)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return out


def redis_stats(server: RedisServer | None) -> dict[str, Any]:
    """What Redis did during the run (INFO stats, commandstats), when the run used one."""
    if server is None:
        return {}
    client = server.client()
    try:
        stats = client.info("stats")
        commands = client.info("commandstats")
        memory = client.info("memory")
    finally:
        client.close()
    return {
        "total_net_input_bytes": stats.get("total_net_input_bytes"),
        "total_net_output_bytes": stats.get("total_net_output_bytes"),
        "total_commands_processed": stats.get("total_commands_processed"),
        "used_memory_peak_mb": round(memory.get("used_memory_peak", 0) / 1e6, 1),
        "calls_by_command": {k.removeprefix("cmdstat_"): v.get("calls") for k, v in commands.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=1, help="back-end worker processes (GRANIAN_WORKERS)")
    parser.add_argument("--redis", action="store_true", help="start a redis-server and set [rate_limit] redis_url")
    args = parser.parse_args()
    if args.workers > 1 and not args.redis:
        parser.error("more than one worker needs --redis: without it every worker keeps its own tabs' state")
    name = "50_streams" + (f"_workers{args.workers}" if args.workers > 1 else "") + ("_redis" if args.redis else "")
    info = machine()
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(redis_server()) if args.redis else None
        run = stack.enter_context(
            running_app(
                name,
                seeded=True,
                sessions=range(args.users),
                redis_url=server.url if server else "",
                workers=args.workers,
            )
        )
        with TreeSampler(run.app.process.pid) as sampler, TreeSampler(run.emulator.process.pid) as emulator:
            cpu0 = driver_cpu_seconds()
            phases = asyncio.run(measure(run, args.users, args.timeout))
            driver_cpu = driver_cpu_seconds() - cpu0
        redis_usage = redis_stats(server)
    backend = sampler.report()
    emulator_usage = {k: v for k, v in emulator.report().items() if k.startswith(("cpu", "rss_peak"))}
    bad = sum(len(p[k]) for p in phases.values() for k in ("errors", "lost", "truncated", "different", "protocol"))
    p95_first = max(p["first_token_added_by_app_seconds"]["p95"] for p in phases.values())
    write_results(
        name,
        {
            "benchmark": "50_streams",
            "machine": info,
            "load_avg_at_end": load_average(),
            "users": args.users,
            "workers": args.workers,
            "redis": bool(args.redis),
            "phases": phases,
            "backend": backend,
            "emulator": emulator_usage,
            "redis_server": redis_usage,
            "driver_cpu_seconds": round(driver_cpu, 1),
            "targets": {
                "no_error_no_lost_message": {"problems": bad, "met": bad == 0},
                "backend_memory_mb": {
                    "target": MEMORY_TARGET_MB,
                    "peak_tree_mb": backend.get("rss_peak_mb"),
                    "met": backend.get("rss_peak_mb", 1e9) < MEMORY_TARGET_MB,
                },
                "first_token_added_p95_seconds": {
                    "target": FIRST_TOKEN_TARGET,
                    "p95": p95_first,
                    "met": p95_first < FIRST_TOKEN_TARGET,
                    "note": "50 at once; the single-user target is measured by bench_first_token.py",
                },
            },
        },
    )


if __name__ == "__main__":
    main()
