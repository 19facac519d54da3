"""Bytes written to Redis per streamed answer, with `[rate_limit] redis_url` set.

    .venv/bin/python bench/bench_redis_bytes.py [--repeat 2] [--answers normal,long]

A redis-server is started here (loopback, a free port, no persistence, as tests/redis_server.py
starts one) and the app runs with `[rate_limit] redis_url` pointing at it: Reflex keeps every tab's
state there (read and written back around each event), the rate limiter keeps its budget there,
and the live board (services/live.py) APPENDs each batch of a running answer and polls its Stop
flag. One signed-in user (a Python websocket client, bench/reflex_client.py, the frames a browser
tab sends) asks, for each answer kind, the first question of a fresh conversation (/chat; the
answer's redirect to /chat/<id> and that page's load are part of it), then one follow-up in that
conversation:

- normal: the emulator's demo answer, about 1 KB;
- long: `#fault:long`, about 100 KB.

There is no ~20 KB kind: fabrix_chat/fabrix/emulator.py has only these two lengths (no fault or
question makes one in between).

For each answer, Redis' `INFO stats` `total_net_input_bytes` (every byte clients sent to Redis:
the bytes written to it, plus command framing and keys) is read just before Enter and again once
the answer has ended (LiveAnswerState.streaming false) and Redis has gone quiet (no bytes but this
script's own INFO for QUIET_POLLS polls in a row). Reported per answer: the bytes written, minus
this script's own INFO commands (measured at the start), their ratio to the answer's size (UTF-8
bytes, from the emulator's log), `total_net_output_bytes` (what the app read back), and the Redis
commands run (INFO commandstats before/after). The idle rate (bytes a second with nobody asking)
is measured before the first answer, to judge how much of a number is background.
Results: bench/results/redis_bytes.json.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    RedisServer,
    Running,
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
    CONVERSATION,
    LIVE,
    SEND_MESSAGE,
    ReflexClient,
    ask_payload,
    compiled_hydrate_extras,
)
from rxconfig import OPLOCK_HOLD_SECONDS  # noqa: E402

USER = 0
# Answer kinds: the question's suffix. No ~20 KB kind: the emulator cannot make one (see above).
ANSWERS = {"normal": "", "medium": " #fault:medium", "long": " #fault:long"}
POLL_SECONDS = 0.05
QUIET_POLLS = 6  # polls in a row with no bytes but our own: Redis is quiet (0.3 s)
SETTLE_LIMIT = 5.0  # seconds to wait for quiet at most (then the reading is marked unsettled)
IDLE_SECONDS = 3.0


class RedisMeter:
    """INFO readings of the app's Redis, less the bytes of this script's own INFO commands."""

    def __init__(self, server: RedisServer) -> None:
        self.redis = server.client()
        self.redis.ping()  # the connection's set-up commands, before anything is measured
        self.stats_cost = 0
        self.commandstats_cost = 0
        self.calls = {"stats": 0, "commandstats": 0}

    def calibrate(self) -> None:
        """Bytes one `INFO stats` and one `INFO commandstats` add to total_net_input_bytes: the
        smallest difference over a few back-to-back readings (the app may write meanwhile)."""
        stats, commands = [], []
        for _ in range(10):
            a = self.redis.info("stats")["total_net_input_bytes"]
            b = self.redis.info("stats")["total_net_input_bytes"]
            self.redis.info("commandstats")
            c = self.redis.info("stats")["total_net_input_bytes"]
            stats.append(b - a)
            commands.append(c - b)
        self.stats_cost = min(stats)
        self.commandstats_cost = min(commands) - self.stats_cost

    def stats(self) -> dict[str, int]:
        self.calls["stats"] += 1
        info = self.redis.info("stats")
        return {
            k: int(info[k]) for k in ("total_net_input_bytes", "total_net_output_bytes", "total_commands_processed")
        }

    def commandstats(self) -> dict[str, int]:
        self.calls["commandstats"] += 1
        return {k.removeprefix("cmdstat_"): int(v.get("calls", 0)) for k, v in self.redis.info("commandstats").items()}

    def own_bytes(self, since: dict[str, int]) -> int:
        return self.stats_cost * (self.calls["stats"] - since["stats"]) + self.commandstats_cost * (
            self.calls["commandstats"] - since["commandstats"]
        )

    async def quiet(self, limit: float = SETTLE_LIMIT) -> bool:
        """Wait until Redis receives nothing but our own polls for QUIET_POLLS polls in a row."""
        deadline = time.monotonic() + limit
        last = self.stats()["total_net_input_bytes"]
        calm = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            now = self.stats()["total_net_input_bytes"]
            calm = calm + 1 if now - last <= self.stats_cost else 0
            last = now
            if calm >= QUIET_POLLS:
                return True
        return False

    def close(self) -> None:
        self.redis.close()


async def idle_rate(meter: RedisMeter, seconds: float) -> dict[str, Any]:
    """Bytes a second the app sends Redis with nobody asking (its own INFO polls excepted)."""
    before = meter.stats()
    calls = dict(meter.calls)  # own INFO from here on: their bytes are in `after`, not in `before`
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(0.5)
        meter.stats()
    after = meter.stats()
    elapsed = time.monotonic() - started
    written = after["total_net_input_bytes"] - before["total_net_input_bytes"] - meter.own_bytes(calls)
    return {"seconds": round(elapsed, 2), "bytes_written": written, "bytes_per_second": round(written / elapsed, 1)}


class Monitor:
    """`--monitor`: what the app sent Redis, by command and key kind (MONITOR, in a thread)."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.counts: dict[str, list[int]] = {}
        self.running = False

    def start(self) -> None:
        self.counts = {}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        time.sleep(0.2)

    def _run(self) -> None:
        client = self.server.client()
        with client.monitor() as monitor:
            for entry in monitor.listen():
                if not self.running:
                    break
                words = str(entry.get("command", "")).split(" ")
                name = words[0].upper()
                if name in ("INFO", "MONITOR"):
                    continue
                key = words[1] if len(words) > 1 else ""
                kind = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "TOKEN", key)
                kind = re.sub(r"\d+", "N", kind)[:200]
                bucket = self.counts.setdefault(f"{name} {kind}", [0, 0])
                bucket[0] += 1
                bucket[1] += len(str(entry.get("command", "")))

    def stop(self) -> dict[str, list[int]]:
        self.running = False
        self.server.client().ping()  # one more line, so listen() returns
        self.thread.join(timeout=5)
        return dict(sorted(self.counts.items(), key=lambda item: -item[1][1]))


MONITOR: Monitor | None = None


async def ask(client: ReflexClient, meter: RedisMeter, question: str, wait: float) -> dict[str, Any]:
    """One question, from Enter until the answer has ended and Redis is quiet again."""
    settled_before = await meter.quiet()
    if MONITOR is not None:
        MONITOR.start()
    client.frames.clear()
    commands_before = meter.commandstats()
    before = meter.stats()
    # This script's own INFO commands from here to `after` (inclusive) are in the difference of
    # the two readings, bytes and commands alike (a reading counts its own bytes, not itself).
    calls = dict(meter.calls)
    saved = client.expect(lambda f: f.var(LIVE, "streaming") is True or bool(f.var(CHAT, "alert_text")), wait)
    end = client.expect(lambda f: f.answer_ended(), wait)
    t0 = time.perf_counter()
    await client.send(SEND_MESSAGE, ask_payload(question))
    saved_frame = await saved
    if saved_frame.var(LIVE, "streaming") is not True:
        raise RuntimeError(f"not asked: {saved_frame.var(CHAT, 'alert_text')}")
    end_frame = await end
    t_end = time.perf_counter()
    # Reflex's opportunistic lock (rxconfig.py) writes a tab's state back when its hold ends:
    # wait past it, so those bytes count for this answer.
    await asyncio.sleep(OPLOCK_HOLD_SECONDS + 1)
    settled_after = await meter.quiet()
    monitored = MONITOR.stop() if MONITOR is not None else {}
    after = meter.stats()
    own = meter.own_bytes(calls)
    own_commands = meter.calls["stats"] - calls["stats"]
    commands_after = meter.commandstats()
    ended = end_frame.ended_answer() or {}
    message_id = int(ended.get("id") or saved_frame.var(LIVE, "live_id") or 0)
    shown = client.live.get(message_id)
    return {
        "question": question,
        "message_id": message_id,
        "seconds_enter_to_end": round(t_end - t0, 3),
        "settled": settled_before and settled_after,
        "redis_bytes_written": after["total_net_input_bytes"] - before["total_net_input_bytes"] - own,
        "redis_bytes_read": after["total_net_output_bytes"] - before["total_net_output_bytes"],
        "redis_commands": after["total_commands_processed"] - before["total_commands_processed"] - own_commands,
        "commands_by_name": {
            name: n - commands_before.get(name, 0)
            for name, n in sorted(commands_after.items())
            if n - commands_before.get(name, 0) > 0 and name != "info"
        },
        "shown_chars": len(shown.text),
        "_shown": shown.text,
        "shown_done": shown.done,
        "pushes": len(shown.push_parts),
        "websocket_bytes_received": sum(f.nbytes for f in client.frames),
        "alert": end_frame.var(CHAT, "alert_text") or "",
        **({"monitor": monitored} if monitored else {}),
    }


async def measure(run: Running, server: RedisServer, answers: list[str], repeat: int, wait: float) -> dict[str, Any]:
    meter = RedisMeter(server)
    client = ReflexClient(
        run.app.url, hydrate_extras=compiled_hydrate_extras(run.web_dir), cookie=run.tokens[USER], record_frames=True
    )
    try:
        agents = client.expect(lambda f: bool(f.var(AGENTS, "agents")), wait)
        await client.connect("/chat", wait=wait)
        await agents
        meter.calibrate()
        await meter.quiet()
        idle = await idle_rate(meter, IDLE_SECONDS)
        tag = uuid.uuid4().hex[:6]
        rows = []
        for answer in answers:
            for r in range(repeat):
                if client.path != "/chat":  # a fresh conversation: the empty new chat
                    opened = client.expect(lambda f: f.var(CONVERSATION, "conversation_id") == 0, wait)
                    await client.navigate("/chat")
                    await opened
                for turn in ("new_chat", "follow_up"):
                    question = f"Redis {tag} {answer} {r} {turn}: what should the plan cover?" + ANSWERS[answer]
                    row = {"answer": answer, "turn": turn, "run": r, **await ask(client, meter, question, wait)}
                    rows.append(row)
                    print(
                        f"{answer:6s} {turn:9s}: {row['redis_bytes_written']:9,d} bytes written to Redis,"
                        f" {row['redis_commands']} commands, {row['shown_chars']:,} chars shown"
                        f"{'' if row['settled'] else ' (Redis never went quiet)'}",
                        flush=True,
                    )
    finally:
        await client.close()
        meter.close()
    return {
        "idle": idle,
        "rows": rows,
        "own_info_bytes": {"stats": meter.stats_cost, "commandstats": meter.commandstats_cost},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="fresh conversations per answer kind")
    parser.add_argument("--answers", default=",".join(ANSWERS), help="answer kinds, of " + ",".join(ANSWERS))
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--monitor", action="store_true", help="also record commands by key kind (MONITOR)")
    args = parser.parse_args()
    answers = [x.strip() for x in args.answers.split(",") if x.strip()]
    if not set(answers) <= set(ANSWERS):
        parser.error(f"answers must be among {tuple(ANSWERS)}")
    info = machine()
    global MONITOR
    with (
        redis_server() as server,
        running_app("redis_bytes", seeded=True, sessions=[USER], redis_url=server.url) as run,
    ):
        MONITOR = Monitor(server) if args.monitor else None
        measured = asyncio.run(measure(run, server, answers, args.repeat, args.timeout))
        asks = {a["question"]: a for a in run.emulator.asks() if a.get("question")}
    rows = measured["rows"]
    for row in rows:
        sent = asks.get(row["question"])
        size = len(sent["answer"].encode("utf-8")) if sent and sent.get("answer") else 0
        row["answer_bytes"] = size
        row["written_per_answer_byte"] = round(row["redis_bytes_written"] / size, 3) if size else None
        shown = row.pop("_shown")
        row["shown_equals_sent"] = bool(sent) and row["shown_done"] and shown == sent["answer"]
    table: dict[str, Any] = {}
    for answer in answers:
        for turn in ("new_chat", "follow_up"):
            group = [r for r in rows if r["answer"] == answer and r["turn"] == turn]
            written = summary([r["redis_bytes_written"] for r in group])
            size = summary([r["answer_bytes"] for r in group])
            table[f"{answer}/{turn}"] = {
                "answer_bytes": round(size["mean"]),
                "redis_bytes_written_mean": round(written["mean"]),
                "redis_bytes_written_max": written["max"],
                "written_per_answer_byte": round(written["mean"] / size["mean"], 3) if size["mean"] else None,
                "redis_bytes_read_mean": round(summary([r["redis_bytes_read"] for r in group])["mean"]),
                "redis_commands_mean": round(summary([r["redis_commands"] for r in group])["mean"]),
                "all_settled": all(r["settled"] for r in group),
            }
    problems = [
        f"{r['question'][:50]}: {r['alert'] or 'shown text differs from what the emulator sent'}"
        for r in rows
        if r["alert"] or not r["shown_equals_sent"]
    ]
    write_results(
        "redis_bytes",
        {
            "benchmark": "redis_bytes",
            "machine": info,
            "load_avg_at_end": load_average(),
            "answer_sizes_note": "normal (~1 KB) and long (~100 KB, #fault:long) only: the emulator has no"
            " fault or question that makes a ~20 KB answer",
            "repeat": args.repeat,
            "idle": measured["idle"],
            "own_info_bytes": measured["own_info_bytes"],
            "mean_by_answer_and_turn": table,
            "problems": problems,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
