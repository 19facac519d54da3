"""The soak benchmark (bench/bench_soak.py) in short, so that it cannot rot: three users work for a
45 seconds against the app in service mode, with one backup or two. Nothing may be lost,
nothing may fail, every backup must pass `manage check` and restore, the back end's numbers must
have been sampled and the figure drawn. Nothing about time or memory is asserted: that is the
benchmark's job (bench/results/soak.json)."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import pytest

import bench.common
from bench.bench_soak import ACTIONS, Options, run_soak
from bench.soak_figure import render_png

pytestmark = pytest.mark.browser


def in_thread(function, *args, **kwargs) -> Any:
    """Run `function` in its own thread: the browser tests' Playwright keeps an event loop in
    this one, and the soak runs its own with asyncio.run."""
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(function, *args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_short_soak_loses_nothing_and_samples_the_back_end(build_lock, browser, tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "WORK", tmp_path)  # its data folders, not /tmp/fabrix-bench
    options = Options(
        minutes=0.75,
        users=3,
        pace=2,
        sample_seconds=6,
        backup_minutes=0.3,
        seeded=False,
        name="soak_short",
        after_seconds=(5.0,),
    )
    result = in_thread(run_soak, options, take_lock=False)  # the build_lock fixture holds the lock

    targets = result["targets"]
    assert targets["zero_errors"]["met"], result["errors"]["first"]
    assert targets["zero_lost"]["met"], result["checks"]
    assert result["actions"].get("sign_in") == 3
    assert set(ACTIONS) <= set(result["actions"]), result["actions"]  # each user's tour does every kind
    assert result["checks"]["asks_saved"] > 0
    assert targets["no_orphaned_uploads"]["met"], result["uploads"]

    assert result["backups"], "no backup was made"
    assert targets["backups_pass_check"]["met"], result["backups"]
    assert targets["restore_loses_only_later"]["met"], result["restore"]

    samples = result["samples"]
    assert len(samples) >= 3
    for key in ("rss_mb", "fds", "threads", "tasks", "states", "db_mb"):
        assert all(s[key] is not None for s in samples), f"{key} was not sampled: {samples}"
    assert max(s["states"] for s in samples) >= 3  # one tab each, read inside the back end
    assert max(s["state_files"] for s in samples) > 0  # the disk manager's copies, in data_dir/states

    figure = render_png(result, tmp_path / "soak.png", browser)
    assert figure.stat().st_size > 10_000
