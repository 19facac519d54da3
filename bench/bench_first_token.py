"""Time to first token added by the app, as a real browser sees it; p50 and p95.

    .venv/bin/python bench/bench_first_token.py [--asks 30] [--new-chats 10]

One signed-in user in Chromium (/usr/bin/chromium, the args of tests/e2e/conftest.py) asks `--asks`
follow-up questions in one conversation, then `--new-chats` first questions of new chats (which
also redirect to /chat/<id> while the answer streams); these make the target's numbers. As
context, `--big-asks` follow-ups in the user's seeded 500-message conversation. A MutationObserver in the page notes
performance.timeOrigin + performance.now() at the first DOM change after which the streaming
assistant article (`article[aria-busy="true"]`) holds answer text, or, if the whole answer
arrived before any batch was shown, a finished assistant article holds it. The emulator
(bench/emulator.py, latency 0) notes when it sent the first answer text. Added by the app =
browser first token - emulator first text, both on this machine's wall clock (the browser clock
is calibrated against Python's time.time() at the start). Also reported: Enter -> first token, and
Enter -> the upstream request (the question's save and everything before FabriX is called).
The same follow-up asks are then sent from a Python websocket client (bench/reflex_client.py):
the server's share of the latency, without the browser's rendering. Streamed text arrives as
`_call_script` events (`fabrixLive.push(id, first, last, "added text", status)`, see
state/live_answer.py): the first one with text, or the delta that ends the answer
(LiveAnswerState.streaming false), is the client's first token; in the page, the websocket hook
below looks for the same two things.
Results: bench/results/first_token.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, load_average, machine, running_app, summary, write_results  # noqa: E402
from bench.reflex_client import SEND_MESSAGE, ReflexClient, ask_payload, compiled_hydrate_extras  # noqa: E402

TARGET = 0.100
USER = 0

OBSERVER_JS = """
(() => {
  window.__ft = {armed: false, t: null, tws: null, how: "", longtask_ms: 0};
  window.__ftArm = (marker) => {
    window.__ft = {armed: true, t: null, tws: null, how: "", marker, longtask_ms: 0};
  };
  // Main-thread tasks over 50 ms (rendering) between Enter and the first token.
  try {
    new PerformanceObserver((list) => {
      const ft = window.__ft;
      if (!ft.armed || ft.t !== null) return;
      for (const e of list.getEntries()) ft.longtask_ms += e.duration;
    }).observe({type: "longtask"});
  } catch (e) { /* no Long Tasks API: the field stays 0 */ }
  // When the websocket message that carries the first answer text arrives (before React sees it):
  // a fabrixLive.push whose added text (a JSON string inside the frame's JSON) is not empty, a
  // reset with text, or the delta that ends the answer.
  const Native = window.WebSocket;
  const streamed = /fabrixLive\\.(push\\(\\d+,\\d+,\\d+,|reset\\(\\d+,\\d+,)\\\\"(?!\\\\")/;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (e) => {
      const ft = window.__ft;
      if (ft.armed && ft.tws === null && typeof e.data === "string"
          && (streamed.test(e.data) || e.data.includes('"streaming_rx_state_":false'))) {
        ft.tws = performance.timeOrigin + performance.now();
      }
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) window.WebSocket[k] = Native[k];
  const check = () => {
    const ft = window.__ft;
    if (!ft.armed || ft.t !== null) return;
    const live = document.querySelector('article[aria-busy="true"] .typing-cursor');
    if (live && live.textContent.trim() !== "") {
      ft.t = performance.timeOrigin + performance.now(); ft.how = "stream"; return;
    }
    for (const a of document.querySelectorAll('article[data-message-role="assistant"]:not([aria-busy])')) {
      if (a.textContent.includes(ft.marker)) {
        ft.t = performance.timeOrigin + performance.now(); ft.how = "finished"; return;
      }
    }
  };
  const start = () => new MutationObserver(check).observe(
    document.documentElement, {childList: true, subtree: true, characterData: true});
  if (document.documentElement) start(); else document.addEventListener("DOMContentLoaded", start);
})();
"""


def clock_offset(page) -> float:
    """Browser wall clock minus Python's time.time(), from the tightest of a few round trips."""
    best = (1e9, 0.0)
    for _ in range(7):
        before = time.time()
        browser = page.evaluate("performance.timeOrigin + performance.now()") / 1000
        after = time.time()
        best = min(best, (after - before, browser - (before + after) / 2))
    return best[1]


def ask_once(page, question: str, marker: str) -> dict[str, Any]:
    """Ask and wait until the answer has ended; returns the browser's first-token time (Python clock)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate("m => window.__ftArm(m)", marker)
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill(question)
    offset = clock_offset(page)
    if box.input_value() != question:  # the page re-rendered the composer meanwhile: type again
        box.fill(question)
    t_enter = time.time()
    box.press("Enter")
    try:
        page.wait_for_function("window.__ft.t !== null", timeout=30_000)
    except PlaywrightTimeout:
        alerts = page.get_by_role("alert").all_inner_texts()
        page.screenshot(path=str(RESULTS / "first_token_timeout.png"))
        return {"question": question, "error": f"no answer text within 30 s; alerts: {alerts}"}
    ft = page.evaluate("window.__ft")
    page.wait_for_selector('article[aria-busy="true"]', state="detached", timeout=60_000)
    return {
        "question": question,
        "t_enter": t_enter,
        "t_first": ft["t"] / 1000 - offset,
        "t_ws": ft["tws"] / 1000 - offset if ft["tws"] else None,
        "how": ft["how"],
        "longtask_ms_before_first_token": ft["longtask_ms"],
    }


def measure(url: str, token: str, asks: int, new_chats: int, big_asks: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    tag = uuid.uuid4().hex[:6]
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": "fabrix_session", "value": token, "url": url}])
        context.add_init_script(OBSERVER_JS)
        page = context.new_page()
        page.goto(f"{url}/chat")
        page.get_by_role("textbox", name="Message", exact=True).wait_for()
        # Warm-up (not counted): the first ask creates the conversation the follow-ups go to.
        ask_once(page, f"Warm-up {tag} question", f"Warm-up {tag}")
        page.wait_for_timeout(500)
        for i in range(asks):
            marker = f"fq{tag}n{i}"
            out.append({"kind": "follow_up", **ask_once(page, f"Follow-up {marker} about planning", marker)})
            page.wait_for_timeout(200)
        # Context, not in the target's numbers: follow-ups in the user's 500-message conversation.
        page.goto(f"{url}/chat/{USER * 100 + 1}")
        page.get_by_role("textbox", name="Message", exact=True).wait_for()
        page.wait_for_timeout(1000)
        for i in range(big_asks):
            marker = f"bq{tag}n{i}"
            out.append({"kind": "follow_up_500", **ask_once(page, f"Follow-up {marker} in a long chat", marker)})
            page.wait_for_timeout(200)
        for i in range(new_chats):
            page.goto(f"{url}/chat")
            page.get_by_role("textbox", name="Message", exact=True).wait_for()
            page.wait_for_timeout(300)
            marker = f"nq{tag}n{i}"
            out.append({"kind": "new_chat", **ask_once(page, f"New chat {marker} about budgets", marker)})
        browser.close()
    return out


async def measure_websocket(url: str, web_dir: Path, token: str, asks: int) -> list[dict[str, Any]]:
    """The same asks from a Python websocket client: the server's share without the browser's rendering."""
    client = ReflexClient(url, hydrate_extras=compiled_hydrate_extras(web_dir), cookie=token)
    await client.connect("/chat")
    tag = uuid.uuid4().hex[:6]
    out = []
    offset = time.time() - time.perf_counter()
    try:
        for i in range(asks + 1):
            question = f"Websocket {tag} n{i} about planning"
            first = client.expect(lambda f: f.shows_answer_text())
            end = client.expect(lambda f: f.answer_ended())
            t_enter = time.perf_counter()
            await client.send(SEND_MESSAGE, ask_payload(question))
            frame = await first
            await end
            if i:  # the first ask creates the conversation: a warm-up, as in the browser
                how = "stream" if frame.pushes_text() else "finished"
                out.append(
                    {
                        "kind": "websocket",
                        "question": question,
                        "t_enter": t_enter + offset,
                        "t_first": frame.t + offset,
                        "how": how,
                    }
                )
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=30)
    parser.add_argument("--new-chats", type=int, default=10)
    parser.add_argument("--big-asks", type=int, default=10, help="follow-ups in a 500-message conversation")
    args = parser.parse_args()
    info = machine()
    with running_app("first_token", seeded=True, sessions=[USER]) as run:
        samples = measure(run.app.url, run.tokens[USER], args.asks, args.new_chats, args.big_asks)
        samples += asyncio.run(measure_websocket(run.app.url, run.web_dir, run.tokens[USER], args.asks))
        asks = {a["question"]: a for a in run.emulator.asks() if a.get("question")}
    rows = []
    for s in samples:
        if "error" in s:
            rows.append(s)
            continue
        sent = asks.get(s["question"])
        if sent is None or not sent.get("t_first_text"):
            rows.append({**s, "error": "the emulator has no answer for this question"})
            continue
        rows.append(
            {
                **s,
                "added_by_app": s["t_first"] - sent["t_first_text"],
                "enter_to_first_token": s["t_first"] - s["t_enter"],
                "enter_to_upstream_request": sent["t_request"] - s["t_enter"],
                "emulator_request_to_first_text": sent["t_first_text"] - sent["t_request"],
                **(
                    {
                        "upstream_to_websocket_message": s["t_ws"] - sent["t_first_text"],
                        "websocket_message_to_dom": s["t_first"] - s["t_ws"],
                    }
                    if s.get("t_ws")
                    else {}
                ),
            }
        )
    ok = [r for r in rows if "error" not in r]
    browser = [r for r in ok if r["kind"] in ("follow_up", "new_chat")]

    def stats(kind: str | None, key: str) -> dict[str, float]:
        return summary([r[key] for r in browser if (kind is None or r["kind"] == kind) and key in r])

    keys = (
        "added_by_app",
        "upstream_to_websocket_message",
        "websocket_message_to_dom",
        "enter_to_first_token",
        "enter_to_upstream_request",
        "emulator_request_to_first_text",
        "longtask_ms_before_first_token",
    )
    result = {
        "benchmark": "first_token",
        "machine": info,
        "load_avg_at_end": load_average(),
        "all": {k: stats(None, k) for k in keys},
        "follow_up": {k: stats("follow_up", k) for k in keys},
        "new_chat": {k: stats("new_chat", k) for k in keys},
        "follow_up_in_500_message_conversation": {
            k: summary([r[k] for r in ok if r["kind"] == "follow_up_500" and k in r]) for k in keys
        },
        "websocket_client_follow_up": {
            k: summary([r[k] for r in ok if r["kind"] == "websocket" and k in r]) for k in keys
        },
        "shown_as": {how: sum(1 for r in browser if r["how"] == how) for how in ("stream", "finished")},
        "errors": [r for r in rows if "error" in r],
        "samples": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
    }
    p95 = result["all"]["added_by_app"]["p95"]
    result["target"] = {"p95_seconds": p95, "target_seconds": TARGET, "met": p95 < TARGET and not result["errors"]}
    write_results("first_token", result)


if __name__ == "__main__":
    main()
