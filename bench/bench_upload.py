"""A 100 MB upload end to end (target < 40 s).

    .venv/bin/python bench/bench_upload.py [--mb 100]

Two measurements, both against the emulator (bench/emulator.py, latency 0, writing uploads to
disk while receiving them as a real server would):

1. client: the app's FabriX client (`FabrixClient.ask_with_file`, the code the app uses) sends a
   100 MB file from disk to the emulator and reads the answer; the RSS growth of this process shows
   whether the file is streamed or held in memory;
2. browser: Chromium attaches the same file through the app's Attach file control (rx.upload,
   streamed to the back end in chunks), waits for the file chip, asks about the file and waits
   for the answer, which must state the file's exact size. Upload, ask and total are timed; the
   app's process tree is sampled for CPU and memory.

Results: bench/results/upload.json.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    DEMO_CLIENT,
    DEMO_TOKEN,
    WORK,
    TreeSampler,
    load_average,
    machine,
    running_app,
    write_results,
)

TARGET_SECONDS = 40.0
USER = 0


def make_file(mb: int) -> Path:
    """A text file of exactly `mb` MiB (lines of words), made once and kept in the bench folder."""
    path = WORK / f"upload-{mb}mb.txt"
    size = mb * 1024 * 1024
    if path.exists() and path.stat().st_size == size:
        return path
    line = b"The quick brown fox reports on the quarterly budget, line after line of plain text.\n"
    block = line * (1 << 20 // len(line) + 1)
    with open(path, "wb") as fh:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            fh.write(piece)
            left -= len(piece)
    return path


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def client_upload(base_url: str, path: Path, size: int) -> dict[str, Any]:
    """The app's own client streams the file to the emulator; seconds and this process's RSS growth."""
    from fabrix_chat.config import FabrixSettings
    from fabrix_chat.emulator import AGENTS
    from fabrix_chat.fabrix.client import FabrixClient

    client = FabrixClient(FabrixSettings(base_url=base_url, client_key=DEMO_CLIENT, openapi_token=DEMO_TOKEN))
    rss_before = max_rss_mb()
    started = time.perf_counter()
    try:
        answer = await client.ask_with_file(
            agent_id=AGENTS[0]["agentId"],
            contents=["Describe this file"],
            file_path=path,
            filename=path.name,
            content_type="text/plain",
        )
    finally:
        await client.aclose()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "mb_per_second": round(size / 1e6 / seconds, 1),
        "answer_states_size": f"{size} bytes" in answer,
        "driver_peak_rss_growth_mb": round(max_rss_mb() - rss_before, 1),
    }


def browser_upload(url: str, token: str, path: Path) -> dict[str, Any]:
    """Attach the file in Chromium, ask about it, wait for the answer; times of each part."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    size = path.stat().st_size
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": "fabrix_session", "value": token, "url": url}])
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/chat")
        box = page.get_by_role("textbox", name="Message", exact=True)
        box.wait_for()
        page.wait_for_timeout(500)
        chip = page.get_by_role("group", name="Attached file")
        started = time.perf_counter()
        page.locator("#composer-upload input[type=file]").set_input_files(str(path))
        chip.get_by_text(path.name).wait_for()  # the name replaces "Uploading…" once it is stored
        uploaded = time.perf_counter()
        box.fill("Summarise this file")
        box.press("Enter")
        answer = page.locator("article[data-message-role='assistant']").last
        page.wait_for_selector('article[aria-busy="true"]', state="attached")
        page.wait_for_selector('article[aria-busy="true"]', state="detached")
        done = time.perf_counter()
        text = answer.inner_text()
        alerts = page.get_by_role("alert").all_inner_texts()
        browser.close()
    return {
        "upload_seconds": round(uploaded - started, 2),
        "ask_and_answer_seconds": round(done - uploaded, 2),
        "total_seconds": round(done - started, 2),
        "answer_states_size": f"{size} bytes" in text,
        "alerts": alerts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    info = machine()
    path = make_file(args.mb)
    with running_app("upload", seeded=True, sessions=[USER]) as run:
        client = asyncio.run(client_upload(run.emulator.url, path, path.stat().st_size))
        print(f"client path: {client}", flush=True)
        with TreeSampler(run.app.process.pid) as sampler:
            browser = browser_upload(run.app.url, run.tokens[USER], path)
        print(f"browser path: {browser}", flush=True)
        asks = [a for a in run.emulator.asks() if a["path"].endswith("/file")]
    backend = sampler.report()
    ok = browser["answer_states_size"] and not browser["alerts"]
    write_results(
        "upload",
        {
            "benchmark": "upload",
            "machine": info,
            "load_avg_at_end": load_average(),
            "file_bytes": path.stat().st_size,
            "client_path": client,
            "browser_path": browser,
            "emulator_received_bytes": [a["request_bytes"] for a in asks],
            "backend_during_browser_upload": backend,
            "target": {
                "target_seconds": TARGET_SECONDS,
                "browser_total_seconds": browser["total_seconds"],
                "met": ok and browser["total_seconds"] < TARGET_SECONDS,
            },
        },
    )


if __name__ == "__main__":
    main()
