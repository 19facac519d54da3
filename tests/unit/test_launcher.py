"""launcher.py, the set-up and start logic of run.sh and run.bat: its Windows branches are
plain functions of their inputs, so they are tested here on Linux too."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

import launcher
from launcher import Layout, SetupError

ROOT = Path(__file__).resolve().parents[2]
WINDOWS_ROOT = PureWindowsPath(r"C:\Users\홍길동\Desktop\FabriX Chat")


def test_windows_layout_uses_scripts_and_the_bun_exe():
    layout = Layout(root=WINDOWS_ROOT, windows=True)
    assert layout.python == WINDOWS_ROOT / ".venv" / "Scripts" / "python.exe"
    assert layout.bun == WINDOWS_ROOT / ".tools" / "node_modules" / "bun" / "bin" / "bun.exe"
    assert layout.tools_bin == WINDOWS_ROOT / ".tools"
    assert str(layout.python) == r"C:\Users\홍길동\Desktop\FabriX Chat\.venv\Scripts\python.exe"
    assert layout.web_dir({}) == WINDOWS_ROOT / ".web"


def test_posix_layout_uses_bin():
    root = PurePosixPath("/opt/fabrix chat")
    layout = Layout(root=root, windows=False)
    assert layout.python == root / ".venv" / "bin" / "python"
    assert layout.bun == root / ".tools" / "bin" / "bun"
    assert layout.tools_bin == root / ".tools" / "bin"
    assert layout.web_dir({"REFLEX_WEB_WORKDIR": "/tmp/web"}) == PurePosixPath("/tmp/web")


def test_too_old_python_is_told_plainly(capsys, monkeypatch):
    assert launcher.python_is_new_enough((3, 11)) and launcher.python_is_new_enough((3, 13))
    assert not launcher.python_is_new_enough((3, 10))
    monkeypatch.setattr(launcher, "python_is_new_enough", lambda: False)
    assert launcher.main(["dev"]) == 1
    err = capsys.readouterr().err
    assert "3.11 or newer is needed" in err and "What to do:" in err


def test_unknown_mode_says_what_to_use(capsys):
    assert launcher.main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "Unknown mode 'serve'" in err
    assert "What to do: Use:" in err and "service" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], (3000, 8000, [])),
        (["--frontend-port", "3001"], (3001, 8000, [])),
        (["--backend-port=8001", "--loglevel", "debug"], (3000, 8001, ["--loglevel", "debug"])),
    ],
)
def test_dev_ports_are_read_and_always_passed_on(args, expected):
    assert launcher.dev_ports(args) == expected


@pytest.mark.parametrize("args", [["--frontend-port"], ["--backend-port", "x"], ["--frontend-port=70000"]])
def test_a_bad_dev_port_is_refused(args):
    with pytest.raises(SetupError, match="needs a port number"):
        launcher.dev_ports(args)


def test_packages_are_installed_again_only_when_a_requirements_file_changed(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "ROOT", tmp_path)
    (tmp_path / "requirements.txt").write_bytes(b"reflex==0.10.1\n")
    (tmp_path / "requirements-test.txt").write_bytes(b"pytest==9.2.0\n")
    layout = Layout(root=tmp_path, windows=False)
    (tmp_path / ".venv").mkdir()
    files = ["requirements.txt", "requirements-test.txt"]
    assert launcher.stale_requirements(layout, files) == files
    stamp = {name: launcher.file_digest(tmp_path / name) for name in files}
    Path(layout.stamp).write_text(json.dumps(stamp), encoding="utf-8")
    assert launcher.stale_requirements(layout, files) == []
    # A Windows checkout with CRLF line endings is the same file.
    (tmp_path / "requirements.txt").write_bytes(b"reflex==0.10.1\r\n")
    assert launcher.stale_requirements(layout, files) == []
    (tmp_path / "requirements-test.txt").write_bytes(b"pytest==9.3.0\n")
    assert launcher.stale_requirements(layout, files) == ["requirements-test.txt"]


def make_project(root: Path) -> None:
    (root / "fabrix_chat" / "__pycache__").mkdir(parents=True)
    (root / "fabrix_chat" / "app.py").write_text("x = 1\n", encoding="utf-8")
    (root / "assets").mkdir()
    (root / "assets" / "styles.css").write_text("body {}\n", encoding="utf-8")
    (root / "rxconfig.py").write_text("config = 1\n", encoding="utf-8")
    (root / "requirements.txt").write_text("reflex==0.10.1\n", encoding="utf-8")


def test_the_service_build_is_redone_when_code_assets_packages_or_port_change(tmp_path):
    make_project(tmp_path)
    first = launcher.build_fingerprint(tmp_path, "127.0.0.1", 3000)
    (tmp_path / "fabrix_chat" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fabrix_chat.db").write_bytes(b"\0")
    assert launcher.build_fingerprint(tmp_path, "127.0.0.1", 3000) == first, "caches and data do not count"
    assert launcher.build_fingerprint(tmp_path, "127.0.0.1", 3001) != first
    for name in ("fabrix_chat/app.py", "assets/styles.css", "requirements.txt"):
        before = launcher.build_fingerprint(tmp_path, "127.0.0.1", 3000)
        (tmp_path / name).write_text((tmp_path / name).read_text() + "# changed\n", encoding="utf-8")
        assert launcher.build_fingerprint(tmp_path, "127.0.0.1", 3000) != before, name


def test_a_build_is_current_only_with_its_stamp_and_its_page(tmp_path):
    web = tmp_path / ".web"
    assert not launcher.build_is_current(web, "abc")
    (web / "build" / "client").mkdir(parents=True)
    (web / launcher.BUILD_STAMP_NAME).write_text(json.dumps({"fingerprint": "abc"}), encoding="utf-8")
    assert not launcher.build_is_current(web, "abc"), "no page built"
    (web / "build" / "client" / "index.html").write_text("<html>", encoding="utf-8")
    assert launcher.build_is_current(web, "abc")
    assert not launcher.build_is_current(web, "def")


def test_a_second_service_start_on_the_same_port_is_refused(tmp_path):
    pid_file = tmp_path / launcher.PID_FILE_NAME
    with socket.socket() as running:  # the first start holds its port
        running.bind(("127.0.0.1", 0))
        running.listen()
        port = running.getsockname()[1]
        launcher.write_pid_file(pid_file, os.getpid(), "127.0.0.1", port, os.getpid())
        with pytest.raises(SetupError, match=f"already running on port {port}") as info:
            launcher.refuse_second_start(pid_file, "127.0.0.1", port, "./run.sh")
        assert f"kill {os.getpid()}" in info.value.todo
    if os.name != "nt":
        assert pid_file.stat().st_mode & 0o777 == 0o600
    # After a reboot the number may belong to an unrelated live process: with the port free, the
    # file is stale and the start goes ahead.
    launcher.refuse_second_start(pid_file, "127.0.0.1", port, "./run.sh")


def test_a_stale_pid_file_does_not_block_a_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file = tmp_path / launcher.PID_FILE_NAME
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launcher.write_pid_file(pid_file, dead.pid, "127.0.0.1", port, dead.pid)
    launcher.refuse_second_start(pid_file, "127.0.0.1", port, "./run.sh")
    pid_file.write_text("not json", encoding="utf-8")
    launcher.refuse_second_start(pid_file, "127.0.0.1", port, "./run.sh")


def test_a_port_held_by_another_program_gets_a_plain_message(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        assert not launcher.port_is_free("127.0.0.1", port)
        with pytest.raises(SetupError, match=f"Port {port} on 127.0.0.1 is already in use") as info:
            launcher.refuse_second_start(tmp_path / "none.pid", "127.0.0.1", port, "run.bat")
        assert "[server] port" in info.value.todo and "run.bat service" in info.value.todo
    assert launcher.port_is_free("127.0.0.1", port)


def test_the_pid_file_is_removed_only_by_its_owner(tmp_path):
    pid_file = tmp_path / launcher.PID_FILE_NAME
    launcher.write_pid_file(pid_file, 1234, "127.0.0.1", 3000, 1235)
    launcher.remove_pid_file(pid_file, 999)
    assert pid_file.exists()
    launcher.remove_pid_file(pid_file, 1234)
    assert not pid_file.exists()


def test_windows_task_restarts_the_service_after_a_failure():
    python = r"C:\Program Files\Python311\python.exe"
    script = r"C:\Users\홍길동\FabriX Chat\launcher.py"
    xml = launcher.windows_task_xml(python, script, r"C:\Users\홍길동\FabriX Chat")
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    task = ET.fromstring(xml.split("\n", 1)[1])  # ElementTree refuses the UTF-16 declaration of a str
    assert task.find("t:Triggers/t:BootTrigger", ns) is not None
    assert task.findtext("t:Settings/t:RestartOnFailure/t:Interval", namespaces=ns) == "PT1M"
    assert task.findtext("t:Settings/t:RestartOnFailure/t:Count", namespaces=ns) == "999"
    assert task.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=ns) == "PT0S"
    assert task.findtext("t:Actions/t:Exec/t:Command", namespaces=ns) == python
    assert task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=ns) == f'"{script}" service'
    assert task.findtext("t:Principals/t:Principal/t:UserId", namespaces=ns) == "S-1-5-18"
    as_user = ET.fromstring(
        launcher.windows_task_xml(python, script, "C:\\", user="CORP\\svc-fabrix").split("\n", 1)[1]
    )
    assert as_user.findtext("t:Principals/t:Principal/t:UserId", namespaces=ns) == "CORP\\svc-fabrix"


def test_windows_task_file_is_utf16_as_schtasks_reads_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(launcher, "ROOT", tmp_path)
    assert launcher.main(["windows-task"]) == 0
    raw = (tmp_path / "fabrix-chat-task.xml").read_bytes()
    assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert "<RestartOnFailure>" in raw.decode("utf-16")
    assert "schtasks /Create" in capsys.readouterr().out


def test_windows_browser_prefers_fabrix_chromium_then_chrome_then_edge():
    files = {r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", r"D:\chromium\chrome.exe"}
    env = {"ProgramFiles": r"C:\Program Files", "ProgramFiles(x86)": r"C:\Program Files (x86)"}
    assert launcher.windows_browser(env, exists=files.__contains__) == next(f for f in files if "msedge" in f)
    assert launcher.windows_browser(
        {**env, "FABRIX_CHROMIUM": r"D:\chromium\chrome.exe"}, exists=files.__contains__
    ) == (r"D:\chromium\chrome.exe")
    assert launcher.windows_browser({}, exists=files.__contains__) is None


def test_base_env_turns_off_telemetry_and_puts_tools_first():
    layout = Layout(root=ROOT, windows=False)
    env = launcher.base_env(layout, {"PATH": "/usr/bin", "REFLEX_TELEMETRY_ENABLED": "true"})
    assert env["REFLEX_TELEMETRY_ENABLED"] == "false" and env["REFLEX_CHECK_LATEST_VERSION"] == "false"
    assert env["PATH"].split(os.pathsep)[0] == str(layout.tools_bin)


def test_development_reload_watches_only_the_app_package():
    """Reflex watches every top-level folder by default, data_dir included; rxconfig narrows it."""
    code = "import json, rxconfig; from reflex.utils.exec import get_reload_paths; print(json.dumps([str(p) for p in get_reload_paths()]))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFLEX_HOT_RELOAD")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [str(ROOT / "fabrix_chat")]


def launch_app(tmp_path, on_signal: str) -> subprocess.Popen:
    """launcher.run_server running a small app that handles a signal the way `on_signal` says,
    in a process group of its own (as a terminal or a service manager starts it); ready on return."""
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            f"""
            import signal, sys, time
            {on_signal}
            print("ready", flush=True)
            time.sleep(60)
            """
        ),
        encoding="utf-8",
    )
    # Ctrl+C handled as in a terminal, also when this suite was started in the background (a
    # shell then starts it with SIGINT ignored, which every child would inherit).
    runner = (
        "import signal, sys, launcher; signal.signal(signal.SIGINT, signal.default_int_handler); "
        f"sys.exit(launcher.run_server([sys.executable, {str(app)!r}], None))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", runner],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.skipif(os.name == "nt", reason="a service manager's stop request is SIGTERM on POSIX")
def test_a_stop_request_reaches_the_app_and_the_launcher_returns_its_exit_code(tmp_path):
    process = launch_app(tmp_path, "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))")
    process.terminate()  # to the launcher only, as systemd's main-process stop does
    assert process.wait(timeout=20) == 7


@pytest.mark.skipif(os.name == "nt", reason="Ctrl+C is a process-group signal on POSIX terminals")
def test_ctrl_c_lets_the_app_shut_down_and_returns_its_exit_code(tmp_path):
    slow_stop = "signal.signal(signal.SIGINT, lambda *_: (time.sleep(0.5), sys.exit(3)))"
    process = launch_app(tmp_path, slow_stop)
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl+C
    assert process.wait(timeout=20) == 3
    assert "Traceback" not in process.stderr.read()


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_an_interrupt_sent_to_the_launcher_alone_is_passed_on_to_the_app(tmp_path):
    process = launch_app(tmp_path, "signal.signal(signal.SIGINT, lambda *_: sys.exit(4))")
    os.kill(process.pid, signal.SIGINT)  # `kill -INT <launcher>`: the app itself is not told
    assert process.wait(timeout=20) == 4


def test_the_committed_locks_pin_exactly_what_the_requirements_ask_for():
    """A change to requirements*.txt without `run.sh lock` fails here, not on a user's machine."""
    runtime = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    tests = (ROOT / "requirements-test.txt").read_text(encoding="utf-8")
    assert launcher.lock_problem(runtime, (ROOT / "requirements.lock").read_text(encoding="utf-8")) is None
    test_lock = (ROOT / "requirements-test.lock").read_text(encoding="utf-8")
    assert launcher.lock_problem(runtime + tests, test_lock) is None
    for lock in ("requirements.lock", "requirements-test.lock"):
        text = (ROOT / lock).read_text(encoding="utf-8")
        entries = [line for line in text.splitlines() if "==" in line and not line.startswith(" ")]
        assert entries and all(line.endswith("\\") for line in entries), f"every pin in {lock} carries hashes"


def test_pins_read_names_versions_extras_and_markers():
    text = "reflex[db]==0.10.1\npsycopg[binary]==3.3.9  # comment\ntzdata==2026.6 ; sys_platform == 'win32' \\\n-r other.txt\n"
    assert launcher.pins(text) == {"reflex": "0.10.1", "psycopg": "3.3.9", "tzdata": "2026.6"}
    assert launcher.lock_problem("httpx==0.28.1\n", "httpx==0.28.0 \\\n") == (
        "httpx==0.28.1 is not in the lock (it has 0.28.0)"
    )


def test_a_requirement_changed_without_relocking_says_to_run_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "ROOT", tmp_path)
    (tmp_path / "requirements.txt").write_text("httpx==0.28.2\n", encoding="utf-8")
    (tmp_path / "requirements.lock").write_text("httpx==0.28.1 \\\n    --hash=sha256:00\n", encoding="utf-8")
    with pytest.raises(SetupError, match="requirements.txt was changed after requirements.lock was made") as info:
        launcher.ensure_packages(Layout(root=tmp_path, windows=False), ["requirements.txt"])
    assert "run.sh lock" in info.value.todo


FAKE_PYTEST = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    half = "quick" if "--ignore=tests/e2e" in sys.argv else "browser"
    marker = Path(os.environ["MARKER_DIR"]) / half
    marker.write_text(" ".join(sys.argv[1:]))
    other = marker.with_name("browser" if half == "quick" else "quick")
    deadline = time.monotonic() + 20
    while not other.exists() and time.monotonic() < deadline:  # both halves run at once
        time.sleep(0.02)
    print(half, "saw the other half:", other.exists())
    sys.exit(int(os.environ.get("EXIT_" + half.upper(), "0")))
    """
)


@pytest.mark.parametrize(
    ("quick_exit", "browser_exit", "expected"), [("0", "0", 0), ("1", "0", 1), ("0", "2", 2), ("1", "2", 2)]
)
def test_the_whole_suite_runs_its_two_halves_at_once_and_fails_when_either_does(
    tmp_path, capfd, quick_exit, browser_exit, expected
):
    env = {**os.environ, "MARKER_DIR": str(tmp_path), "EXIT_QUICK": quick_exit, "EXIT_BROWSER": browser_exit}
    log = tmp_path / "artifacts" / "unit-and-integration.log"
    code = launcher.run_whole_suite([sys.executable, "-c", FAKE_PYTEST], env, log)
    assert code == expected
    assert (tmp_path / "quick").read_text() == "tests --ignore=tests/e2e"
    assert (tmp_path / "browser").read_text() == "tests/e2e"
    out = capfd.readouterr().out
    # The browser half's output went to the console, the other half's to the log, then shown.
    assert "quick saw the other half: True" in log.read_text() and "quick saw the other half: True" in out
    assert "browser saw the other half: True" in out
    assert ("Unit and integration tests: passed" in out) == (quick_exit == "0")
    assert ("Browser tests: passed" in out) == (browser_exit == "0")
    assert f"FAILED (exit code {browser_exit})" in out or browser_exit == "0"
