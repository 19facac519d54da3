"""Every way the README starts the app, run as a newcomer runs it: from a fresh copy of the
project (what a clone holds: no .venv, .tools, .web, data or secrets.toml) in a folder whose
name has a space and Korean letters, through run.sh itself.

Development mode once restarted its back end forever while every test, all in service mode,
stayed green; these tests are why no start path can be untested again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, ask, at, free_port, sign_up, unique_name

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
STARTED = re.compile(r"back end started \(process \d+\)")
FIRST_START_TIMEOUT = 600  # a fresh copy installs every package, bun and the page's packages first


def project_files() -> list[str]:
    """The files a clone of this checkout would have (tracked, plus new ones not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def clone(tmp_path_factory, build_lock) -> Path:
    target = tmp_path_factory.mktemp("fresh") / "FabriX 채팅 clone"
    for name in project_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


def newcomer_env() -> dict[str, str]:
    """The environment of someone who has set nothing: none of this suite's own settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FABRIX_", "REFLEX_", "GRANIAN_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT / ".tools"))
    )
    return env


class Launched:
    """`./run.sh ARGS` running in the clone, its output in a file."""

    def __init__(self, clone: Path, *args: str):
        self.log = clone / f"run-{'-'.join(args) or 'dev'}-{time.monotonic_ns()}.out"
        self._out = open(self.log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            ["bash", str(clone / "run.sh"), *args],
            cwd=clone,
            env=newcomer_env(),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def starts(self) -> int:
        return len(STARTED.findall(self.output()))

    def wait_for(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"run.sh exited with {self.process.returncode}:\n{self.output()[-5000:]}")
            try:
                if httpx.get(url, timeout=3, follow_redirects=True).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"{url} did not answer within {timeout} s:\n{self.output()[-5000:]}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Ctrl+C (the terminal sends it to the whole process group), as a person stops it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
                pytest.fail(f"run.sh did not stop within 60 s of {signal.Signals(sig).name}:\n{self.output()[-3000:]}")
        self._out.close()
        return self.process.returncode


@pytest.fixture
def launch(clone) -> Iterator:
    started: list[Launched] = []

    def start(*args: str) -> Launched:
        started.append(Launched(clone, *args))
        return started[-1]

    yield start
    for launched in started:
        launched.stop(signal.SIGKILL if launched.process.poll() is None else signal.SIGINT)


def ask_and_see_the_answer_end(page, question: str) -> None:
    answers = page.locator(ANSWER).count()
    ask(page, question)
    expect(page.locator(ANSWER)).to_have_count(answers + 1)
    expect(page.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0, timeout=60_000)
    expect(page.get_by_role("button", name="Send message")).to_be_visible()
    expect(page.locator(ANSWER).last).not_to_have_text(re.compile(r"^\s*$"))


def test_development_mode_starts_once_and_reloads_once_per_code_change(clone, launch, page):
    front, back = free_port(), free_port()
    dev = launch("dev", "--frontend-port", str(front), "--backend-port", str(back))
    url = f"http://localhost:{front}"
    dev.wait_for(f"http://127.0.0.1:{back}/ping", FIRST_START_TIMEOUT)
    dev.wait_for(f"{url}/login", 300)
    ready = time.monotonic()

    # Opened as http://127.0.0.1 (as some newcomers type it), the page moves to the front end's
    # own name, so signing in (a route of the back end on that site) is not a cross-site call.
    page.goto(f"http://127.0.0.1:{front}/login")
    page.wait_for_url(re.compile(rf"^http://localhost:{front}/login"))
    username = sign_up(page, url)
    ask_and_see_the_answer_end(page, "Explain Python decorators #fault:slow")
    # What the app writes at run time (here, also files a watcher would take for code) is
    # never a reason to reload, wherever in the data folder it lands.
    data = clone / "data"
    assert (data / "fabrix_chat.db-wal").exists(), "the database in the data folder is in use"
    for name in ("uploads/1/notes.py", "backups/copy.db", "logs/extra.log"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("x = 1\n", encoding="utf-8")
    ask_and_see_the_answer_end(page, "And generators?")
    while time.monotonic() - ready < 30:
        page.wait_for_timeout(2_000)
    assert dev.starts() == 1, f"the back end restarted during 30 s of use:\n{dev.output()[-3000:]}"

    # A code change reloads the back end exactly once, and the app keeps working.
    code = clone / "fabrix_chat" / "i18n.py"
    code.write_text(code.read_text(encoding="utf-8") + "\n# edited by the test\n", encoding="utf-8")
    deadline = time.monotonic() + 120
    while dev.starts() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert dev.starts() == 2, f"a change to fabrix_chat/i18n.py did not reload the back end:\n{dev.output()[-3000:]}"
    dev.wait_for(f"http://127.0.0.1:{back}/ping", 60)
    page.goto(f"{url}/chat")
    ask_and_see_the_answer_end(page, "Still there?")
    time.sleep(5)
    assert dev.starts() == 2, f"one change reloaded more than once:\n{dev.output()[-3000:]}"
    # Log out and in again: the cookie's routes live on the back end's port in this mode.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(at(url, "/login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("correct-horse-9")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(at(url, "/chat"))
    assert dev.stop() in (0, 130, -signal.SIGINT)


def test_service_mode_and_manage_commands_from_a_fresh_clone(clone, launch, page):
    port = free_port()
    (clone / "secrets.toml").write_text(f"[server]\nport = {port}\n", encoding="utf-8")
    url = f"http://127.0.0.1:{port}"

    admin = unique_name("boss")
    created = subprocess.run(
        ["bash", str(clone / "run.sh"), "manage", "create-admin", "--username", admin, "--email",
         f"{admin}@example.com", "--password-stdin"],
        cwd=clone, env=newcomer_env(), input="correct-horse-9\n", capture_output=True, text=True, timeout=FIRST_START_TIMEOUT,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr

    service = launch("service")
    service.wait_for(f"{url}/login", FIRST_START_TIMEOUT)
    assert "Building the service front end" in service.output()
    pid_file = clone / "data" / "fabrix-chat.pid"
    assert json.loads(pid_file.read_text(encoding="utf-8"))["port"] == port

    sign_up(page, url)
    ask_and_see_the_answer_end(page, "Explain Python decorators")
    # Database, WAL, logs and the PID file: readable by the account that runs the app only.
    for path in [clone / "data", *(clone / "data").rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path

    second = subprocess.run(
        ["bash", str(clone / "run.sh"), "service"],
        cwd=clone,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert f"already running on port {port}" in second.stderr and "What to do:" in second.stderr

    for command, expected in ((["check"], "ok"), (["backup"], "Backup written to")):
        done = subprocess.run(
            ["bash", str(clone / "run.sh"), "manage", *command], cwd=clone, env=newcomer_env(), capture_output=True, text=True, timeout=120
        )  # fmt: skip
        assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr
    backup = next((clone / "data" / "backups").glob("fabrix_chat-*.db"))
    restore = subprocess.run(
        ["bash", str(clone / "run.sh"), "manage", "restore", str(backup), "--yes"], cwd=clone, env=newcomer_env(), capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert restore.returncode == 1 and "The app is running" in restore.stderr, restore.stdout + restore.stderr

    assert service.stop(signal.SIGTERM) in (0, -signal.SIGTERM), service.output()[-3000:]
    assert not pid_file.exists(), "a clean stop removes the PID file"

    # A restart with nothing changed serves the page it built before, without building again.
    again = launch("service")
    again.wait_for(f"{url}/login", 120)
    assert "The service front end is up to date" in again.output()
    assert "Building the service front end" not in again.output()
    page.context.clear_cookies()  # the user who signed up before the restart
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(admin)
    page.get_by_label("Password", exact=True).fill("correct-horse-9")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(at(url, "/chat"))
    page.goto(f"{url}/admin")
    expect(page.get_by_role("tab", name="Users", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=admin, exact=True)).to_be_visible()
    again.stop()
