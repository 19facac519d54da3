"""Bytes written to Redis per streamed answer, with `[rate_limit] redis_url` set.

    .venv/bin/python bench/bench_redis_bytes.py [--repeat 2] [--answers normal,slow,medium,long] [--monitor]

A redis-server is started here (loopback, a free port, no persistence, as tests/redis_server.py
starts one) and the app runs with `[rate_limit] redis_url` pointing at it: Reflex keeps every tab's
state there (read and written back around each event), the rate limiter keeps its budget there,
and the live board (services/live.py) APPENDs a running answer's text at most once a second and
listens for Stop on a channel. One signed-in user (a Python websocket client, bench/reflex_client.py, the frames a browser
tab sends) asks, for each answer kind, the first question of a fresh conversation (/chat; the
answer's redirect to /chat/<id> and that page's load are part of it), then one follow-up in that
conversation:

- normal: the emulator's demo answer, about 1 KB, streamed in a fraction of a second;
- slow: the same answer streamed over about 17 s (`#fault:slow`, chunks 0.3 s apart), as FabriX
  paces one: what a running answer costs a second (its copy on the live board) shows here;
- medium: `#fault:medium`, about 20 KB;
- long: `#fault:long`, about 100 KB.

For each answer, Redis' `INFO stats` `total_net_input_bytes` (every byte clients sent to Redis:
the bytes written to it, plus command framing and keys) is read just before Enter and again once
the answer has ended (LiveAnswerState.streaming false) and Redis has gone quiet (no bytes but this
script's own INFO for QUIET_POLLS polls in a row). Reported per answer: the bytes written, minus
this script's own INFO commands (measured at the start), their ratio to the answer's size (UTF-8
bytes, from the emulator's log), `total_net_output_bytes` (what the app read back), and the Redis
commands run (INFO commandstats before/after). The idle rate (bytes a second with nobody asking)
is measured before the first answer, to judge how much of a number is background. `--monitor`
also counts the exact bytes of each command by key kind, through a proxy between the app and
Redis (Monitor below). Results: bench/results/redis_bytes.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import socket
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
# Answer kinds: the question's suffix.
ANSWERS = {"normal": "", "slow": " #fault:slow", "medium": " #fault:medium", "long": " #fault:long"}
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
    """`--monitor`: the exact bytes the app sent Redis, by command and key kind.

    The app is given the address of a loopback proxy (in threads) instead of the server's; the
    proxy forwards both ways and parses what the app sends (RESP arrays, as redis-py writes them),
    counting each command's bytes on the wire. (Redis' own MONITOR would also list the commands a
    Lua script runs inside the server, which cost no network bytes, and quotes binary arguments.)
    """

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.counts: dict[str, list[int]] = {}
        self.running = False
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            app_side, _ = self.listener.accept()
            redis_side = socket.create_connection(("127.0.0.1", self.server.port))
            threading.Thread(target=self._pipe, args=(app_side, redis_side, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(redis_side, app_side, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, count: bool) -> None:
        pending = b""
        with contextlib.suppress(OSError):  # a side closed: the connection is over
            while data := source.recv(65536):
                target.sendall(data)
                if count:
                    pending = self._tally(pending + data)
        with contextlib.suppress(OSError):  # pass the close on; the other side may be gone already
            target.shutdown(socket.SHUT_WR)

    def _tally(self, buffer: bytes) -> bytes:
        """Count every whole command at the start of buffer; return the incomplete rest."""
        while (words := _resp_command(buffer)) is not None:
            size, args = words
            buffer = buffer[size:]
            if not self.running or not args:
                continue
            name = args[0].decode(errors="replace").upper()
            key = args[1].decode(errors="replace") if len(args) > 1 and name not in ("EVAL", "EVALSHA") else ""
            if name in ("EVAL", "EVALSHA") and len(args) > 3:
                key = args[3].decode(errors="replace")  # the first key
            kind = _kind(key)
            with self.lock:
                bucket = self.counts.setdefault(f"{name} {kind}".strip(), [0, 0])
                bucket[0] += 1
                bucket[1] += size
                for key, payload in _state_writes(name, args):  # already counted: the EVAL's parts
                    part = self.counts.setdefault(f"(in EVAL) {_kind(key)}", [0, 0])
                    part[0] += 1
                    part[1] += len(key) + len(payload)
        return buffer

    def start(self) -> None:
        with self.lock:
            self.counts = {}
        self.running = True

    def stop(self) -> dict[str, list[int]]:
        self.running = False
        with self.lock:
            return dict(sorted(self.counts.items(), key=lambda item: -item[1][1]))


def _kind(key: str) -> str:
    """A key with its tab token and numbers replaced, so keys of one kind count together."""
    kind = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "TOKEN", key)
    return re.sub(r"\d+", "N", kind)[:200]


def _state_writes(name: str, args: list[bytes]) -> list[tuple[str, bytes]]:
    """The states Reflex's fenced save (an EVAL: KEYS = lock, state keys; ARGV = lock id, expiry,
    pickles) writes, with their pickles."""
    if name != "EVAL" or b"redis.call('GET', KEYS[1])" not in args[1]:
        return []
    keys = [key.decode(errors="replace") for key in args[4 : 3 + int(args[2])]]
    return list(zip(keys, args[3 + int(args[2]) + 2 :], strict=False))


def _resp_command(buffer: bytes) -> tuple[int, list[bytes]] | None:
    """(bytes, arguments) of the RESP array at the start of buffer, or None while incomplete."""
    end = buffer.find(b"\r\n")
    if end < 0 or not buffer.startswith(b"*"):
        return None
    count, at, args = int(buffer[1:end]), end + 2, []
    for _ in range(count):
        end = buffer.find(b"\r\n", at)
        if end < 0:
            return None
        length = int(buffer[at + 1 : end])
        at = end + 2
        if len(buffer) < at + length + 2:
            return None
        args.append(buffer[at : at + length])
        at += length + 2
    return at, args


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
    parser.add_argument(
        "--monitor", action="store_true", help="also count the bytes of each command by key kind (a proxy)"
    )
    args = parser.parse_args()
    answers = [x.strip() for x in args.answers.split(",") if x.strip()]
    if not set(answers) <= set(ANSWERS):
        parser.error(f"answers must be among {tuple(ANSWERS)}")
    info = machine()
    global MONITOR
    with (
        redis_server() as server,
        contextlib.nullcontext(Monitor(server) if args.monitor else None) as monitor,
        running_app("redis_bytes", seeded=True, sessions=[USER], redis_url=(monitor or server).url) as run,
    ):
        MONITOR = monitor
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
            "answer_kinds": {kind: suffix.strip() or "(the demo answer)" for kind, suffix in ANSWERS.items()},
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
