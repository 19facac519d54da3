"""Bytes sent to the browser per streamed answer, as the answer and the conversation grow.

    .venv/bin/python bench/bench_stream_bytes.py [--repeat 2]

One signed-in user in Chromium asks in conversations that already hold 1, 10, 50 and 500
messages, once for a normal answer (about 1 KB) and once for a long one (about 100 KB, the
emulator's `#fault:long`). Playwright's page.on("websocket") -> ws.on("framereceived") counts
every frame the page receives from Enter until the answer has ended, sorted by what the frame
carries:

- batch: the streaming updates (only `stream_text` / `stream_status` change);
- messages: frames that carry the conversation's message list (the question shown, the answer done);
- conversations: frames that carry the sidebar's conversation list without the message list;
- other.

Sizes are websocket payload bytes after decompression (Chromium negotiates permessage-deflate,
so fewer bytes cross the network). Results: bench/results/stream_bytes.json.
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

USER = 0
SIZES = (1, 10, 50, 500)
BATCH_KEYS = {"stream_text_rx_state_", "stream_status_rx_state_"}
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


def classify(payload: str) -> str:
    if not payload.startswith(PREFIX):
        return "other"
    try:
        name, update = json.loads(payload[len(PREFIX) :])
    except ValueError:
        return "other"
    delta = update.get("delta") or {}
    keys = {k for sub in delta.values() for k in sub}
    if not keys:
        return "other"
    if keys <= BATCH_KEYS:
        return "batch"
    if "messages_rx_state_" in keys:
        return "messages"
    if "conversations_rx_state_" in keys:
        return "conversations"
    return "other"


def measure(url: str, token: str, ids: dict[int, int], repeat: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    frames: list[tuple[float, int, str]] = []
    recording = {"on": False}

    def on_websocket(ws) -> None:
        def received(payload) -> None:
            if recording["on"] and isinstance(payload, str):
                frames.append((time.time(), len(payload.encode("utf-8")), classify(payload)))

        ws.on("framereceived", received)

    tag = uuid.uuid4().hex[:6]
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": "fabrix_session", "value": token, "url": url}])
        page = context.new_page()
        page.on("websocket", on_websocket)
        for answer in ("normal", "long"):
            for size in SIZES:
                for r in range(repeat):
                    page.goto(f"{url}/chat/{ids[size]}")
                    page.locator("article").first.wait_for()
                    box = page.get_by_role("textbox", name="Message", exact=True)
                    box.wait_for()
                    page.wait_for_timeout(500)  # the page's own loading frames are not counted
                    shown = page.locator("article").count()
                    marker = f"Bytes {tag} {answer} {size} {r}"
                    question = f"{marker}: what next?" + (" #fault:long" if answer == "long" else "")
                    box.fill(question)
                    if box.input_value() != question:  # the composer re-rendered meanwhile: type again
                        box.fill(question)
                    frames.clear()
                    recording["on"] = True
                    started = time.time()
                    box.press("Enter")
                    # Done when a finished (not busy) answer that names the question is shown: a
                    # latency-0 stream can come and go between two polls for the busy article.
                    page.wait_for_function(DONE_JS, arg=marker, timeout=120_000)
                    page.wait_for_timeout(500)
                    recording["on"] = False
                    row: dict[str, Any] = {
                        "answer": answer,
                        "conversation": size,
                        "messages_before": size + 2 * r,
                        "articles_shown_before": shown,
                        "seconds": round(time.time() - started, 3),
                        "frames": len(frames),
                        "total_bytes": sum(n for _, n, _ in frames),
                    }
                    for kind in ("batch", "messages", "conversations", "other"):
                        sizes = [n for _, n, k in frames if k == kind]
                        row[f"{kind}_frames"] = len(sizes)
                        row[f"{kind}_bytes"] = sum(sizes)
                        row[f"{kind}_max_frame"] = max(sizes, default=0)
                    rows.append(row)
                    print(
                        f"{answer:6s} conversation {size:3d}: {row['total_bytes']:8d} bytes in {row['frames']} frames"
                        f" (batches {row['batch_bytes']} in {row['batch_frames']}, message lists {row['messages_bytes']})",
                        flush=True,
                    )
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    info = machine()
    with running_app("stream_bytes", seeded=True, sessions=[USER], prepare=add_conversations) as run:
        rows = measure(run.app.url, run.tokens[USER], run.prepared, args.repeat)
    table: dict[str, Any] = {}
    for answer in ("normal", "long"):
        for size in SIZES:
            group = [r for r in rows if r["answer"] == answer and r["conversation"] == size]
            table[f"{answer}/{size}"] = {
                key: round(summary([r[key] for r in group])["mean"])
                for key in (
                    "total_bytes",
                    "batch_frames",
                    "batch_bytes",
                    "batch_max_frame",
                    "messages_bytes",
                    "conversations_bytes",
                    "other_bytes",
                )
            }
    write_results(
        "stream_bytes",
        {
            "benchmark": "stream_bytes",
            "machine": info,
            "load_avg_at_end": load_average(),
            "mean_by_answer_and_conversation_size": table,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
