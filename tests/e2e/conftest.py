"""Browser tests: the real app in service mode (`reflex run --env prod`, one port) in demo mode,
driven by Playwright in Debian's Chromium through the names of UI_CONTRACT.md."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
# Debian's Chromium by default; on Windows point FABRIX_CHROMIUM at chrome.exe or msedge.exe.
CHROMIUM = os.environ.get("FABRIX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    url: str
    data_dir: Path
    secrets: Path
    process: subprocess.Popen
    log_path: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "FABRIX_CHAT_SECRETS": str(self.secrets)}

    def manage(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "fabrix_chat.manage", *args],
            cwd=ROOT,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _server_env(secrets: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FABRIX_CHAT_SECRETS=str(secrets),
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        PYTHONUNBUFFERED="1",
    )
    tools = ROOT / ".tools" / "bin"
    if (tools / "bun").exists():
        env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
        env["REFLEX_BUN_PATH"] = str(tools / "bun")
    return env


def start_app(data_dir: Path, extra_toml: str = "", *, workers: int = 1, out_dir: Path | None = None) -> AppServer:
    """Start the app in service mode on a free port; wait until a page and the back end answer.
    Its console output goes to server.out in `out_dir` (default: data_dir).

    Each instance builds into its own web folder beside data_dir: the build hard-codes the
    server's port and is served from disk, so two instances must never share one.
    """
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    secrets = data_dir / "secrets.toml"
    secrets.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{data_dir.as_posix()}"\n{extra_toml}',
        encoding="utf-8",
    )
    env = _server_env(secrets)
    env["REFLEX_WEB_WORKDIR"] = str(data_dir.parent / f"{data_dir.name}-web")
    env["GRANIAN_WORKERS"] = str(workers)
    subprocess.run(
        [sys.executable, "-m", "fabrix_chat.manage", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    log_path = (out_dir or data_dir) / "server.out"
    log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reflex",
            "run",
            "--env",
            "prod",
            "--backend-host",
            "127.0.0.1",
            "--frontend-port",
            str(port),
            "--backend-port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=os.name != "nt",
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if (
                httpx.get(f"{url}/ping", timeout=2).status_code == 200
                and httpx.get(f"{url}/login", timeout=5, follow_redirects=True).status_code == 200
            ):
                return AppServer(url=url, data_dir=data_dir, secrets=secrets, process=process, log_path=log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_app(process)
    raise RuntimeError(f"the app did not start in {START_TIMEOUT} s:\n{log_path.read_text()[-4000:]}")


def stop_app(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop the app and everything it started (its process group on Linux)."""
    if process.poll() is not None:
        return
    if os.name == "nt":
        process.terminate()
        process.wait(timeout=30)
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def build_lock() -> Iterator[None]:
    """One browser-test session at a time per checkout: they all build into the same .web/."""
    try:
        import fcntl
    except ImportError:  # Windows: one test run at a time is the user's own business
        yield
        return
    with open(ROOT / ".e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, build_lock) -> Iterator[AppServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./run.sh test does it as root)")
    server = start_app(tmp_path_factory.mktemp("app"))
    yield server
    stop_app(server.process)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def context(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield context
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(context.pages):
            page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}-{i}.png"), full_page=True)
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


_counter = itertools.count()


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}{uuid.uuid4().hex[:6]}"


def sign_up(
    page, base_url: str, username: str | None = None, password: str = "correct-horse-9", invite_key: str = "123456"
) -> str:
    """Sign up through the form and land on /chat; returns the username."""
    username = username or unique_name()
    page.goto(f"{base_url}/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_label("Invite key").fill(invite_key)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(at(base_url, "/chat"))
    return username


def create_admin(server: AppServer, prefix: str = "admin", password: str = "correct-horse-9") -> str:
    """An administrator made with the command line, as an operator does on a new installation."""
    username = unique_name(prefix)
    result = server.manage("create-admin", "--username", username, "--password-stdin", stdin=f"{password}\n")
    assert result.returncode == 0, result.stderr
    return username


def at(base_url: str, path: str) -> re.Pattern:
    """The URL of a route, with or without the trailing slash the server may add."""
    return re.compile(re.escape(base_url + path) + "/?$")


def ask(page, question: str) -> None:
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill(question)
    box.press("Enter")
