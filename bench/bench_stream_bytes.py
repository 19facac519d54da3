"""Bytes sent to the browser per streamed answer, as the answer and the conversation grow.

    .venv/bin/python bench/bench_stream_bytes.py [--repeat 2] [--sizes 1,10,50,500] [--answers normal,medium,long]

One signed-in user in Chromium asks in conversations that already hold 1, 10, 50 and 500
messages, for a normal answer (about 1 KB), a medium one (about 20 KB, the emulator's
`#fault:medium`) and a long one (about 100 KB, `#fault:long`). Playwright's page.on("websocket") ->
ws.on("framereceived") counts every frame the page receives from Enter until the answer has
ended, sorted by what the frame carries:

- batch: the streamed answer: `_call_script` events of `fabrixLive.push`
  (state/live_answer.py; a push carries only the text the batch added);
- resync: `fabrixLive.reset` (the whole text, sent when the page asks with `resync`; expected 0);
- messages: deltas that carry ConversationState's `messages` or `added` (the question shown, the
  answer ended; `added` holds only this visit's questions and answers, a live answer's content empty);
- conversations: deltas that carry SidebarState's `conversations` (its first 30 rows) and no messages;
- other (Engine.IO pings, LiveAnswerState alone, ...).

Per answer: the total, the total divided by the answer's size in bytes (UTF-8, from the
emulator's log), and "bytes per question": what arrives from Enter until the question is shown
(up to and including the delta that adds it to `added`), and everything but the batches (total
minus batch frames). Sizes are websocket payload bytes after decompression (Chromium negotiates
permessage-deflate, so fewer bytes cross the network). Results: bench/results/stream_bytes.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, machine, running_app, summary, write_results  # noqa: E402
from bench.reflex_client import CONVERSATION, PAGE, SIDEBAR, live_call  # noqa: E402

USER = 0
SIZES = (1, 10, 50, 500)
# Answer kinds: the question's suffix. No 20 KB kind: the emulator has no fault for it (see above).
ANSWERS = {"normal": "", "medium": " #fault:medium", "long": " #fault:long"}
QUESTION_SIZES = (1, 500)  # the conversations "bytes per question" is reported for
KINDS = ("batch", "resync", "messages", "conversations", "other")
PREFIX = "42/_event,"
DONE_JS = """marker => !document.querySelector('article[aria-busy="true"]') && [...document.querySelectorAll(
  'article[data-message-role="assistant"]')].some(a => a.textContent.includes(marker))"""


def add_conversations(db_path: Path) -> dict[int, int]:
    """Conversations of 1, 10 and 50 messages for the user; 500 is the seeded one. Returns size -> id."""
    from sqlalchemy import insert

    from fabrix_chat.db import make_engine
    from fabrix_chat.models import Conversation, Message

    engine = make_engine(f"sqlite:///{db_path.as_posix()}")
    ids = {500: USER * 100 + 1}
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for size in SIZES[:-1]:
            cid = conn.execute(
                insert(Conversation.__table__).values(
                    user_id=USER + 1, title=f"Bytes test {size}", agent_id="", created_at=now, updated_at=now
                )
            ).inserted_primary_key[0]
            ids[size] = cid
            conn.execute(
                insert(Message.__table__),
                [
                    {
                        "conversation_id": cid,
                        "seq": seq,
                        "role": "user" if seq % 2 == 0 else "assistant",
                        "content": "What should the weekly report cover?"
                        if seq % 2 == 0
                        else "## Weekly report\n\n1. Progress\n2. Risks\n3. Next steps\n\n" + "Details. " * 60,
                        "status": "complete",
                        "error": "",
                        "attachment_name": "",
                        "attachment_size": 0,
                        "created_at": now - timedelta(minutes=size - seq),
                        "updated_at": now - timedelta(minutes=size - seq),
                    }
                    for seq in range(size)
                ],
            )
    engine.dispose()
    return ids


def classify(payload: str, question: str = "") -> tuple[str, bool]:
    """The frame's kind (see the module's docstring) and whether it adds `question` to the page."""
    if not payload.startswith(PREFIX):
        return "other", False
    try:
        name, update = json.loads(payload[len(PREFIX) :])
    except ValueError:
        return "other", False
    if name != "event" or not isinstance(update, dict):
        return "other", False
    methods = set()
    for event in update.get("events") or []:
        if event.get("name") == "_call_script":
            call = live_call(str((event.get("payload") or {}).get("javascript_code", "")))
            if call is not None:
                methods.add(call[0])
    if "push" in methods:
        return "batch", False
    if "reset" in methods:
        return "resync", False
    delta = update.get("delta") or {}
    conversation = delta.get(CONVERSATION, {})
    if "messages_rx_state_" in delta.get(PAGE, {}) or "added_rx_state_" in conversation:
        added = conversation.get("added_rx_state_") or []
        shows = bool(question) and any(m.get("role") == "user" and m.get("content") == question for m in added)
        return "messages", shows
    if "conversations_rx_state_" in delta.get(SIDEBAR, {}):
        return "conversations", False
    return "other", False


def delta_bytes(payload: str) -> dict[str, int]:
    """JSON bytes of each var a delta frame carries, as "substate.var" (e.g. "sidebar.conversations"),
    to see what makes up a frame."""
    if not payload.startswith(PREFIX):
        return {}
    try:
        _name, update = json.loads(payload[len(PREFIX) :])
        delta = update.get("delta") or {}
    except (ValueError, AttributeError):
        return {}
    out: dict[str, int] = {}
    for substate, values in delta.items():
        short = substate.rsplit(".", 1)[-1].rsplit("____", 1)[-1].removesuffix("_state")
        for var, value in (values or {}).items():
            key = f"{short}.{var.removesuffix('_rx_state_')}"
            out[key] = out.get(key, 0) + len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    return out


def add_up(parts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def measure(
    url: str, token: str, ids: dict[int, int], repeat: int, sizes: list[int], answers: list[str]
) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    frames: list[tuple[float, int, str, bool, dict[str, int]]] = []
    recording = {"on": False, "question": ""}

    def on_websocket(ws) -> None:
        def received(payload) -> None:
            if recording["on"] and isinstance(payload, str):
                kind, shows = classify(payload, recording["question"])
                frames.append((time.time(), len(payload.encode("utf-8")), kind, shows, delta_bytes(payload)))

        ws.on("framereceived", received)

    tag = uuid.uuid4().hex[:6]
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": "fabrix_session", "value": token, "url": url}])
        page = context.new_page()
        page.on("websocket", on_websocket)
        for answer in answers:
            for size in sizes:
                for r in range(repeat):
                    page.goto(f"{url}/chat/{ids[size]}")
                    page.locator("article").first.wait_for()
                    box = page.get_by_role("textbox", name="Message", exact=True)
                    box.wait_for()
                    page.wait_for_timeout(500)  # the page's own loading frames are not counted
                    shown = page.locator("article").count()
                    marker = f"Bytes {tag} {answer} {size} {r}"
                    question = f"{marker}: what next?" + ANSWERS[answer]
                    box.fill(question)
                    if box.input_value() != question:  # the composer re-rendered meanwhile: type again
                        box.fill(question)
                    frames.clear()
                    recording["question"] = question
                    recording["on"] = True
                    started = time.time()
                    box.press("Enter")
                    # Done when a finished (not busy) answer that names the question is shown: a
                    # latency-0 stream can come and go between two polls for the busy article.
                    page.wait_for_function(DONE_JS, arg=marker, timeout=120_000)
                    page.wait_for_timeout(500)
                    recording["on"] = False
                    until_question = next((i for i, f in enumerate(frames) if f[3]), None)
                    row: dict[str, Any] = {
                        "answer": answer,
                        "question": question,
                        "conversation": size,
                        "messages_before": size + 2 * r,
                        "articles_shown_before": shown,
                        "seconds": round(time.time() - started, 3),
                        "frames": len(frames),
                        "total_bytes": sum(f[1] for f in frames),
                        # From Enter until the question is shown (None: no frame showed it).
                        "question_bytes": None
                        if until_question is None
                        else sum(f[1] for f in frames[: until_question + 1]),
                        "question_frames": None if until_question is None else until_question + 1,
                        # What the deltas carried (JSON bytes per var): until the question shows, and in all.
                        "question_delta_bytes_by_var": add_up(
                            [f[4] for f in frames[: until_question + 1]] if until_question is not None else []
                        ),
                        "delta_bytes_by_var": add_up([f[4] for f in frames]),
                    }
                    for kind in KINDS:
                        kind_sizes = [f[1] for f in frames if f[2] == kind]
                        row[f"{kind}_frames"] = len(kind_sizes)
                        row[f"{kind}_bytes"] = sum(kind_sizes)
                        row[f"{kind}_max_frame"] = max(kind_sizes, default=0)
                    row["non_batch_bytes"] = row["total_bytes"] - row["batch_bytes"]
                    rows.append(row)
                    print(
                        f"{answer:6s} conversation {size:3d}: {row['total_bytes']:8d} bytes in {row['frames']} frames"
                        f" (batches {row['batch_bytes']} in {row['batch_frames']}, message lists"
                        f" {row['messages_bytes']}, until the question shows {row['question_bytes']})",
                        flush=True,
                    )
        browser.close()
    return rows


def add_answer_sizes(rows: list[dict[str, Any]], asks: list[dict[str, Any]]) -> None:
    """Each row's answer size (UTF-8 bytes, as the emulator sent it) and total / answer size."""
    by_question = {a["question"]: a for a in asks if a.get("question")}
    for row in rows:
        sent = by_question.get(row["question"])
        size = len(sent["answer"].encode("utf-8")) if sent and sent.get("answer") else 0
        row["answer_bytes"] = size
        row["total_per_answer_byte"] = round(row["total_bytes"] / size, 3) if size else None
        row["batch_per_answer_byte"] = round(row["batch_bytes"] / size, 3) if size else None


def mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return summary(values)["mean"] if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="conversation sizes, of 1,10,50,500")
    parser.add_argument("--answers", default=",".join(ANSWERS), help="answer kinds, of " + ",".join(ANSWERS))
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    answers = [x.strip() for x in args.answers.split(",") if x.strip()]
    if not set(sizes) <= set(SIZES) or not set(answers) <= set(ANSWERS):
        parser.error(f"sizes must be among {SIZES}, answers among {tuple(ANSWERS)}")
    info = machine()
    with running_app("stream_bytes", seeded=True, sessions=[USER], prepare=add_conversations) as run:
        rows = measure(run.app.url, run.tokens[USER], run.prepared, args.repeat, sizes, answers)
        add_answer_sizes(rows, run.emulator.asks())
    table: dict[str, Any] = {}
    per_question: dict[str, Any] = {}
    for answer in answers:
        for size in sizes:
            group = [r for r in rows if r["answer"] == answer and r["conversation"] == size]
            means = {
                key: mean(group, key)
                for key in (
                    "total_bytes",
                    "answer_bytes",
                    "batch_frames",
                    "batch_bytes",
                    "batch_max_frame",
                    "resync_bytes",
                    "messages_bytes",
                    "conversations_bytes",
                    "other_bytes",
                    "question_bytes",
                    "non_batch_bytes",
                )
            }
            entry = {k: (round(v) if v is not None else None) for k, v in means.items()}
            total, size_bytes = means["total_bytes"], means["answer_bytes"]
            entry["total_per_answer_byte"] = round(total / size_bytes, 3) if total and size_bytes else None
            table[f"{answer}/{size}"] = entry
            if size in QUESTION_SIZES:
                per_question[f"{answer}/{size}"] = {
                    "until_question_shown_bytes": entry["question_bytes"],
                    "total_minus_batch_bytes": entry["non_batch_bytes"],
                }
    write_results(
        "stream_bytes",
        {
            "benchmark": "stream_bytes",
            "machine": info,
            "load_avg_at_end": load_average(),
            "answer_sizes_note": "normal (~1 KB) and long (~100 KB, #fault:long) only: the emulator has no"
            " fault or question that makes a ~20 KB answer",
            "repeat": args.repeat,
            "mean_by_answer_and_conversation_size": table,
            "bytes_per_question": per_question,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
