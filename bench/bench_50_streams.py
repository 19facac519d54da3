"""50 users streaming at once: errors, lost or truncated answers (must be zero), first token,
backend CPU and memory.

    .venv/bin/python bench/bench_50_streams.py [--users 50]

50 signed-in websocket clients (bench/reflex_client.py, the frames a browser tab sends) open /chat
and all ask at the same moment, twice:

1. "short": a new chat each, a normal demo answer (about 1 KB, about 100 stream events);
2. "long": a follow-up in that chat with the emulator's `#fault:long` switch, an answer of about
   100 KB (about 5,000 stream events), so the 50 streams really overlap.

Every answer is then checked three ways: the text the emulator sent for that question (its log),
the text the app saved in the database, and the text the client was finally shown must be equal,
and the saved status must be "complete". First token = the first update in which the client sees
answer text (the streamed text, or the finished message if the stream ended before a batch was
sent); "added by the app" subtracts the moment the emulator sent the first answer text (both on
this machine's wall clock). CPU and memory are read from /proc for the app's process tree.
Results: bench/results/50_streams.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    Running,
    TreeSampler,
    driver_cpu_seconds,
    load_average,
    machine,
    running_app,
    summary,
    write_results,
)
from bench.reflex_client import CHAT, Frame, ReflexClient, compiled_hydrate_extras, form  # noqa: E402

MEMORY_TARGET_MB = 512
FIRST_TOKEN_TARGET = 0.100


def visible_text(frame: Frame) -> bool:
    """The frame shows answer text: streamed text, or the finished answer."""
    return bool(frame.var(CHAT, "stream_text")) or frame.var(CHAT, "streaming") is False


async def ask_all(clients: list[ReflexClient], questions: list[str], wait: float) -> list[dict[str, Any]]:
    """Every client asks its question at once; returns what each saw and when."""
    offset = time.time() - time.perf_counter()

    async def one(client: ReflexClient, question: str) -> dict[str, Any]:
        client.frames.clear()
        first = client.expect(visible_text, wait)
        end = client.expect(lambda f: f.var(CHAT, "streaming") is False, wait)
        t0 = time.perf_counter()
        result: dict[str, Any] = {"question": question, "t_send": t0 + offset, "error": ""}
        try:
            await client.send(f"{CHAT}.send_message", {"form": form(message=question, composer_input=question)})
            first_frame = await first
            end_frame = await end
        except Exception as exc:  # timeouts and lost connections are errors of this run
            result["error"] = f"{type(exc).__name__}: {exc}"
            return result
        messages = end_frame.var(CHAT, "messages") or []
        last = messages[-1] if messages else {}
        alerts = [f.var(CHAT, "alert_text") for f in client.frames if f.var(CHAT, "alert_text")]
        stream_frames = [f for f in client.frames if f.has(CHAT, "stream_text") and f.var(CHAT, "stream_text")]
        result.update(
            t_first_visible=first_frame.t + offset,
            t_end=end_frame.t + offset,
            shown=last.get("content", "") if last.get("role") == "assistant" else None,
            shown_status=last.get("status"),
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
    errors, lost, truncated, different = [], [], [], []
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
        if saved != expected or status != "complete" or r["shown"] != expected:
            target = truncated if expected.startswith(saved) and len(saved) < len(expected) else different
            target.append(
                f"{q[:40]}: sent {len(expected)} chars, saved {len(saved)} ({status}), shown {len(r['shown'] or '')}"
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
        "first_token_added_by_app_seconds": summary(first_token_added),
        "first_token_from_send_seconds": summary(first_token_abs),
        "send_to_upstream_request_seconds": summary(before_upstream),
        "answer_complete_from_send_seconds": summary(total),
        "answer_chars": summary(
            [len(by_question[r["question"]]["answer"]) for r in results if r["question"] in by_question]
        ),
        "stream_frames_per_answer": summary([r.get("stream_frames", 0) for r in results if not r["error"]]),
        "stream_bytes_per_answer": summary([r.get("stream_bytes", 0) for r in results if not r["error"]]),
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
    agents = [c.expect(lambda f: f.has(CHAT, "agents"), wait) for c in clients]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    info = machine()
    with running_app("50_streams", seeded=True, sessions=range(args.users)) as run:
        with TreeSampler(run.app.process.pid) as sampler, TreeSampler(run.emulator.process.pid) as emulator:
            cpu0 = driver_cpu_seconds()
            phases = asyncio.run(measure(run, args.users, args.timeout))
            driver_cpu = driver_cpu_seconds() - cpu0
    backend = sampler.report()
    emulator_usage = {k: v for k, v in emulator.report().items() if k.startswith(("cpu", "rss_peak"))}
    bad = sum(len(p[k]) for p in phases.values() for k in ("errors", "lost", "truncated", "different"))
    p95_first = max(p["first_token_added_by_app_seconds"]["p95"] for p in phases.values())
    write_results(
        "50_streams",
        {
            "benchmark": "50_streams",
            "machine": info,
            "load_avg_at_end": load_average(),
            "users": args.users,
            "phases": phases,
            "backend": backend,
            "emulator": emulator_usage,
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
