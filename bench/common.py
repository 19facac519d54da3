"""What the benchmark scripts share: paths, the machine, percentiles, the build lock, the
emulator and app processes, CPU/memory of a process tree, and the results files.

Every benchmark runs the app the way users get it (`reflex run --env prod`, one port, started by
tests/e2e/conftest.start_app) against bench/emulator.py with latency 0, on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WORK = Path(os.environ.get("FABRIX_BENCH_DIR", "/tmp/fabrix-bench"))
SEED_DIR = WORK / "seed"
SEED_DB = SEED_DIR / "fabrix_chat.db"
LOCK_PATH = ROOT / ".e2e.lock"
PASSWORD = "bench-password-1"
USERS = 100
DEMO_CLIENT = "demo-client"
DEMO_TOKEN = "demo-token"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def username(n: int) -> str:
    return f"bench{n:03d}"


# --- numbers -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank: an observed value, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, max and mean of a list of numbers."""
    if not values:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "max": math.nan, "mean": math.nan}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model (/proc/cpuinfo), Python version, load and date of this run."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram_mb = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_mb = int(line.split()[1]) // 1024
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "ram_mb": ram_mb,
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in load],
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Save one benchmark's results as bench/results/NAME.json and print them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    print(f"results written to {path}")
    return path


# --- the build lock ----------------------------------------------------------------------------


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """The lock the browser tests take (tests/e2e/conftest.build_lock).

    start_app now builds each instance into its own web folder, so the lock no longer guards
    .web/; it is still taken so that a benchmark never shares the machine's cores with another
    engineer's browser-test session, which would distort both.
    """
    import fcntl

    with open(LOCK_PATH, "w") as lock:
        started = time.monotonic()
        print("waiting for the .web build lock (other engineers' browser tests may hold it)...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        print(f"lock taken after {time.monotonic() - started:.0f} s", flush=True)
        yield


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Emulator:
    url: str
    process: subprocess.Popen

    def asks(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_bench/asks", timeout=30).json()

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_bench/asks", timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_emulator() -> Emulator:
    """bench/emulator.py (the project's emulator, latency 0, with the timing log) in its own process."""
    port = free_port()
    command = [sys.executable, str(BENCH / "emulator.py"), "--port", str(port), "--latency", "0"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200:
                return Emulator(url=url, process=process)
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the emulator did not start")


def bench_toml(
    emulator: Emulator, *, rpm: int = 1_000_000, tpm: int = 1_000_000_000, redis_url: str = "", extra: str = ""
) -> str:
    """secrets.toml text after [server]: the emulator as a real FabriX, limits out of the way.

    The rate limit is raised so the limiter never makes anyone wait: the benchmarks measure the
    app's own cost (the limiter's bookkeeping still runs on every ask). `redis_url` goes into
    [rate_limit] (TOML allows that table once, so it cannot come through `extra`): Reflex then keeps
    every tab's state in Redis, and the limiter and the live board use it too.
    """
    redis_line = f'redis_url = "{redis_url}"\n' if redis_url else ""
    return (
        "[fabrix_api]\n"
        f'base_url = "{emulator.url}"\n'
        f'client_key = "{DEMO_CLIENT}"\n'
        f'openapi_token = "{DEMO_TOKEN}"\n'
        "[rate_limit]\n"
        f"rpm = {rpm}\n"
        f"tpm = {tpm}\n"
        f"{redis_line}"
        "[auth]\n"
        'admin_signup_key = "BenchInvite2027"\n'  # outside demo mode the demo key is refused
        "[security]\n"
        'secret_key = "bench-secret-key-not-for-production-use-0123456789"\n' + extra
    )


def fresh_data_dir(name: str, *, seeded: bool) -> Path:
    """An empty data folder under WORK for one run, holding a copy of the seeded database if asked."""
    data_dir = WORK / "runs" / name
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    if seeded:
        if not SEED_DB.exists():
            raise SystemExit(f"{SEED_DB} is missing: run `.venv/bin/python bench/seed.py` first")
        shutil.copyfile(SEED_DB, data_dir / "fabrix_chat.db")
    return data_dir


def migrate(data_dir: Path) -> None:
    """`python -m fabrix_chat.manage migrate` on data_dir's database (as seed.py and start_app run it)."""
    secrets = data_dir / "secrets.toml"  # start_app writes its own over it
    secrets.write_text(f'[server]\ndata_dir = "{data_dir.as_posix()}"\n', encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "fabrix_chat.manage", "migrate"],
        cwd=ROOT,
        env={**os.environ, "FABRIX_CHAT_SECRETS": str(secrets)},
        check=True,
        capture_output=True,
    )


def create_sessions(db_path: Path, user_numbers: Sequence[int]) -> dict[int, str]:
    """Signed-in sessions for seeded users, written straight into the database before the app starts.

    Benchmarks other than the log-in one start signed in, so 50 bcrypt checks do not distort what
    they measure. The browser cookie value is the token; the database keeps its SHA-256, exactly as
    services/auth.new_session_token does.
    """
    import hashlib
    import secrets

    from sqlalchemy import insert

    from fabrix_chat.db import make_engine
    from fabrix_chat.models import AuthSession

    tokens = {n: secrets.token_urlsafe(32) for n in user_numbers}
    now = dt.datetime.now(dt.UTC)
    engine = make_engine(f"sqlite:///{db_path.as_posix()}")
    with engine.begin() as conn:
        conn.execute(
            insert(AuthSession.__table__),
            [
                {
                    "user_id": n + 1,
                    "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                    "created_at": now,
                    "last_seen_at": now,
                    "client": "bench",
                }
                for n, token in tokens.items()
            ],
        )
    engine.dispose()
    return tokens


@dataclass
class Running:
    """What running_app yields."""

    app: Any  # tests.e2e.conftest.AppServer
    emulator: Emulator
    data_dir: Path
    tokens: dict[int, str]
    prepared: Any = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "fabrix_chat.db"

    @property
    def web_dir(self) -> Path:
        """The front end this instance built (start_app gives each instance its own web folder)."""
        own = self.data_dir.parent / f"{self.data_dir.name}-web"
        return own if (own / "utils").exists() else ROOT / ".web"


@contextlib.contextmanager
def running_app(
    name: str,
    *,
    seeded: bool,
    sessions: Sequence[int] = (),
    prepare: Callable[[Path], Any] | None = None,
    extra_toml: str = "",
    redis_url: str = "",
    workers: int = 1,
    take_lock: bool = True,
) -> Iterator[Running]:
    """The emulator and the app (under the build lock), stopped again on the way out.

    `sessions`: seeded user numbers that get a signed-in session (see create_sessions);
    `prepare(db_path)` may add rows before the app starts (its result is `Running.prepared`);
    `redis_url`: `[rate_limit] redis_url` (see redis_server); `workers`: back-end worker processes
    (GRANIAN_WORKERS, as tests/e2e/conftest.start_app sets it; more than one needs Redis);
    `take_lock=False` when the caller already holds the lock (a test under the browser tests'
    build_lock fixture: a second flock on the same file in one process would wait forever).
    """
    from tests.e2e.conftest import start_app, stop_app

    data_dir = fresh_data_dir(name, seeded=seeded)
    if seeded:
        migrate(data_dir)  # the seed may predate a migration; sessions and `prepare` need today's tables
    tokens = create_sessions(data_dir / "fabrix_chat.db", sessions) if sessions else {}
    prepared = prepare(data_dir / "fabrix_chat.db") if prepare else None
    emulator = start_emulator()
    try:
        with build_lock() if take_lock else contextlib.nullcontext():
            started = time.monotonic()
            app = start_app(data_dir, bench_toml(emulator, redis_url=redis_url, extra=extra_toml), workers=workers)
            print(f"app up at {app.url} after {time.monotonic() - started:.0f} s", flush=True)
            try:
                yield Running(app=app, emulator=emulator, data_dir=data_dir, tokens=tokens, prepared=prepared)
            finally:
                stop_app(app.process)
    finally:
        emulator.stop()


@dataclass
class RedisServer:
    """A throwaway redis-server (what redis_server yields)."""

    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """redis-server on a free loopback port, no persistence, started as the tests start it
    (a missing server ends the benchmark with a message instead of a skip)."""
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (Debian package redis-server)")
    from tests.redis_server import running_redis

    with running_redis() as port:
        print(f"redis-server on port {port}", flush=True)
        yield RedisServer(port=port)


def driver_cpu_seconds() -> float:
    """CPU seconds used so far by this (driver) process: it shares the machine with the app."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- CPU and memory of a process tree (no psutil: /proc) ---------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_tree(root_pid: int) -> list[int]:
    """root_pid and all its descendants, from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def proc_rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of one process in MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class TreeSampler:
    """Samples CPU and RSS of a process tree in a thread: peak RSS, CPU seconds and % over a window."""

    def __init__(self, root_pid: int, interval: float = 0.2) -> None:
        import threading

        self.root_pid = root_pid
        self.interval = interval
        self.peak_rss_mb = 0.0
        self.peak_by_pid: dict[int, float] = {}
        self.cmdlines: dict[int, str] = {}
        self.samples: list[tuple[float, float, float]] = []  # (time, cpu seconds, rss MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def snapshot(self) -> tuple[float, float]:
        pids = process_tree(self.root_pid)
        cpu = sum(proc_cpu_seconds(p) for p in pids)
        rss = 0.0
        for pid in pids:
            if pid not in self.cmdlines:
                self.cmdlines[pid] = proc_cmdline(pid)[:160]
            mb = proc_rss_mb(pid)
            rss += mb
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0.0), mb)
        return cpu, rss

    def _run(self) -> None:
        while not self._stop.is_set():
            cpu, rss = self.snapshot()
            self.samples.append((time.monotonic(), cpu, rss))
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        cpu, rss = self.snapshot()
        self.samples.append((time.monotonic(), cpu, rss))

    def report(self) -> dict[str, Any]:
        """CPU seconds and average % of one core over the sampled window, peak and last RSS."""
        if len(self.samples) < 2:
            return {}
        (t0, c0, _), (t1, c1, rss_end) = self.samples[0], self.samples[-1]
        wall = max(t1 - t0, 1e-9)
        biggest = max(self.peak_by_pid, key=self.peak_by_pid.get) if self.peak_by_pid else 0
        return {
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(c1 - c0, 2),
            "cpu_percent_of_one_core": round(100 * (c1 - c0) / wall, 1),
            "rss_start_mb": round(self.samples[0][2], 1),
            "rss_peak_mb": round(self.peak_rss_mb, 1),
            "rss_end_mb": round(rss_end, 1),
            "largest_process_peak_mb": round(self.peak_by_pid.get(biggest, 0.0), 1),
            "peak_mb_by_process": {
                f"{pid} {self.cmdlines.get(pid, '')}": round(mb, 1) for pid, mb in self.peak_by_pid.items()
            },
        }
