"""Service mode: from launch to the first page served, and the memory it takes to get there.

    .venv/bin/python bench/bench_service_start.py [--restarts 5]

Three ways, each in a fresh data folder and its own web folder, demo mode, 127.0.0.1:
- before: `reflex run --env prod` as run.sh started it until this release (compiles and builds
  the front end at every start);
- first start: `python launcher.py service` with no build yet (builds it once);
- restarts: `python launcher.py service` again with nothing changed (reuses the build), the
  case of a service that restarts itself after a failure. Target: first page within 3 s.
The time includes everything the launcher does (package check, configuration, migration).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
from common import ROOT, WORK, TreeSampler, build_lock, free_port, load_average, machine, summary, write_results

TARGET_SECONDS = 3.0


def first_page(command: list[str], env: dict[str, str], url: str, timeout: float = 600) -> dict[str, float]:
    """Start the command, time it until `url` answers 200, sample its process tree's memory, stop it."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        with TreeSampler(process.pid, interval=0.05) as sampler:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command} exited with {process.returncode}")
                if time.monotonic() - started > timeout:
                    raise RuntimeError(f"{url} did not answer in {timeout} s")
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
            seconds = time.monotonic() - started
            time.sleep(1)  # the memory of the first second of service too
        return {"seconds": round(seconds, 3), "rss_peak_mb": sampler.report().get("rss_peak_mb", 0.0)}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def setup(name: str) -> tuple[dict[str, str], int]:
    run_dir = WORK / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "data").mkdir(parents=True)
    port = free_port()
    secrets = run_dir / "secrets.toml"
    secrets.write_text(f'[server]\nport = {port}\ndata_dir = "{(run_dir / "data").as_posix()}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FABRIX_", "REFLEX_"))}
    tools = ROOT / ".tools" / "bin"
    env.update(
        FABRIX_CHAT_SECRETS=str(secrets),
        REFLEX_WEB_WORKDIR=str(run_dir / "web"),
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_BUN_PATH=str(tools / "bun"),
        PATH=f"{tools}{os.pathsep}{env.get('PATH', '')}",
    )
    subprocess.run([sys.executable, "-m", "fabrix_chat.manage", "migrate"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    return env, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5)
    args = parser.parse_args()
    with build_lock():
        info = machine()
        env, port = setup("service_start_before")
        url = f"http://127.0.0.1:{port}/login/"
        before = first_page(
            [sys.executable, "-m", "reflex", "run", "--env", "prod", "--backend-host", "127.0.0.1",
             "--frontend-port", str(port), "--backend-port", str(port)], env, url,
        )  # fmt: skip
        env, port = setup("service_start_launcher")
        url = f"http://127.0.0.1:{port}/login/"
        launcher = [sys.executable, str(ROOT / "launcher.py"), "service"]
        first = first_page(launcher, env, url)
        restarts = [first_page(launcher, env, url, timeout=120) for _ in range(args.restarts)]
    times = summary([r["seconds"] for r in restarts])
    write_results(
        "service_start",
        {
            "machine": info,
            "load_avg_at_end": load_average(),
            "before_reflex_run_prod": before,
            "launcher_first_start": first,
            "launcher_restart_seconds": times,
            "launcher_restart_rss_peak_mb": max(r["rss_peak_mb"] for r in restarts),
            "target": {"restart_first_page_seconds": TARGET_SECONDS, "met": times["p95"] < TARGET_SECONDS},
        },
    )


if __name__ == "__main__":
    main()
