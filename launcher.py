"""Sets up and starts FabriX Agent Chat, the same way on Linux, macOS and Windows.

run.sh and run.bat only find a Python and hand over to this file:

    python launcher.py                  development mode (hot reload, this machine only)
    python launcher.py service          service mode (built front end, one port, from secrets.toml)
    python launcher.py test [ARGS]      the whole test suite (ARGS go to pytest)
    python launcher.py manage CMD ...   administration commands (python -m fabrix_chat.manage)
    python launcher.py windows-task     write a Task Scheduler file that keeps service mode running

Each step says what it does; a failed step says what to do. Standard library only: this runs
before the virtual environment exists. Keep the syntax readable by old Pythons too, so that
one too old gets a plain message instead of a syntax error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

ROOT = Path(__file__).resolve().parent
MIN_PYTHON = (3, 11)
BUN_VERSION = "1.4.5"
AXE_VERSION = "4.14.1"
REQUIREMENTS = "requirements.txt"
TEST_REQUIREMENTS = "requirements-test.txt"
# The whole dependency tree, pinned with the hashes of every file (all platforms), made from the
# two files above by `run.sh lock`; installs use them with --require-hashes.
LOCKS = {REQUIREMENTS: "requirements.lock", TEST_REQUIREMENTS: "requirements-test.lock"}
UV_VERSION = "0.13.9"
PID_FILE_NAME = "fabrix-chat.pid"
BUILD_STAMP_NAME = "fabrix-build.json"
DEV_FRONTEND_PORT = 3000
DEV_BACKEND_PORT = 8000
# What the built front end is made from: a change to any of these means building it again.
BUILD_INPUTS = ("fabrix_chat", "assets", "rxconfig.py", REQUIREMENTS, "requirements.lock", "reflex.lock")
USAGE = "Use: run.sh | run.sh service | run.sh test | run.sh manage COMMAND | run.sh lock | run.sh windows-task"


class SetupError(Exception):
    """A step that failed, with what to do about it."""

    def __init__(self, problem: str, todo: str = ""):
        super().__init__(problem)
        self.problem = problem
        self.todo = todo


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


# --- where things are -----------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The project's paths for one operating system (Windows: Scripts\\python.exe, bun.exe)."""

    root: PurePath
    windows: bool

    @classmethod
    def here(cls) -> Layout:
        return cls(root=ROOT, windows=os.name == "nt")

    def _path(self, *parts: str) -> PurePath:
        flavour = PureWindowsPath if self.windows else PurePosixPath
        path = flavour(str(self.root)).joinpath(*parts)
        return Path(path) if isinstance(self.root, Path) else path

    @property
    def venv(self) -> PurePath:
        return self._path(".venv")

    @property
    def python(self) -> PurePath:
        return self._path(".venv", "Scripts", "python.exe") if self.windows else self._path(".venv", "bin", "python")

    @property
    def stamp(self) -> PurePath:
        return self._path(".venv", ".installed.json")

    @property
    def tools(self) -> PurePath:
        return self._path(".tools")

    @property
    def tools_bin(self) -> PurePath:
        # `npm install -g --prefix P` puts commands in P on Windows and in P/bin elsewhere.
        return self.tools if self.windows else self._path(".tools", "bin")

    @property
    def bun(self) -> PurePath:
        # The npm package ships the real binary; on Windows its .cmd shim would need cmd.exe.
        if self.windows:
            return self._path(".tools", "node_modules", "bun", "bin", "bun.exe")
        return self._path(".tools", "bin", "bun")

    @property
    def axe(self) -> PurePath:
        return self._path(".tools", "axe", "node_modules", "axe-core", "axe.min.js")

    def web_dir(self, environ: dict[str, str]) -> PurePath:
        workdir = environ.get("REFLEX_WEB_WORKDIR")
        return self._path(workdir) if workdir else self._path(".web")


def python_is_new_enough(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> bool:
    return tuple(version[:2]) >= MIN_PYTHON


# --- running programs -----------------------------------------------------------------------


def run(command: list[str], *, env: dict[str, str] | None = None, problem: str, todo: str, quiet: bool = False) -> str:
    """Run a set-up command; its output is shown (or returned when quiet); failure raises SetupError."""
    try:
        result = subprocess.run(
            [str(part) for part in command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise SetupError(f"{problem} ({exc})", todo) from exc
    if result.returncode != 0:
        if quiet and result.stdout:
            print(result.stdout[-4000:], file=sys.stderr)
        raise SetupError(problem, todo)
    return result.stdout or ""


def base_env(layout: Layout, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for Reflex and the app: no telemetry, no version check, .tools/ first."""
    env = dict(os.environ if environ is None else environ)
    env.update(
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        PYTHONUNBUFFERED="1",
        PYTHONUTF8="1",  # Korean text in paths and output on Windows code pages
    )
    env["PATH"] = os.pathsep.join([str(layout.tools_bin), env.get("PATH", "")])
    return env


# --- set-up steps ---------------------------------------------------------------------------


def ensure_venv(layout: Layout) -> None:
    if Path(layout.python).exists():
        return
    step("Creating the Python virtual environment in .venv")
    todo = (
        "Check that Python is installed completely (on Windows, from python.org)."
        if layout.windows
        else "Install the venv module (Debian/Ubuntu: apt-get install python3-venv), then run this again."
    )
    run([sys.executable, "-m", "venv", str(layout.venv)], problem="Could not create .venv.", todo=todo)


def file_digest(path: Path) -> str:
    # Line endings are normalised so a checkout with CRLF (Windows) counts as the same file.
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def stale_requirements(layout: Layout, files: list[str]) -> list[str]:
    """The requirement files installed with other contents than they have now (or never)."""
    try:
        installed = json.loads(Path(layout.stamp).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        installed = {}
    return [name for name in files if installed.get(name) != file_digest(ROOT / name)]


def pins(text: str) -> dict[str, str]:
    """{normalised name: version} of the `name==version` lines of a requirements or lock file."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip().rstrip("\\").strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            name = name.split("[", 1)[0].strip().lower().replace("_", "-").replace(".", "-")
            found[name] = version.strip()
    return found


def lock_problem(requirements: str, lock: str) -> str | None:
    """Why `lock` does not match `requirements` (a pin missing or at another version), or None."""
    locked = pins(lock)
    for name, version in pins(requirements).items():
        if locked.get(name) != version:
            return f"{name}=={version} is not in the lock (it has {locked.get(name, 'nothing')})"
    return None


def ensure_packages(layout: Layout, files: list[str]) -> None:
    """Install the lock files made from `files` with --require-hashes, when they changed."""
    locks = []
    for name in files:
        lock = LOCKS[name]
        try:
            problem = lock_problem((ROOT / name).read_text(encoding="utf-8"), (ROOT / lock).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SetupError(f"{lock} cannot be read ({exc.strerror}).", "Restore it from git, or run 'lock'.") from exc
        if problem:
            raise SetupError(
                f"{name} was changed after {lock} was made: {problem}.",
                "Run './run.sh lock' (Windows: 'run.bat lock') to pin the new versions with hashes, then try again.",
            )
        locks.append(lock)
    stale = stale_requirements(layout, locks)
    if not stale:
        step("Python packages are up to date")
        return
    step(f"Installing the pinned Python packages ({', '.join(stale)}, hashes checked)")
    command = [str(layout.python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--require-hashes"]
    for name in stale:
        command += ["-r", name]
    run(
        command,
        problem="Installing the Python packages failed.",
        todo="Read the pip error above; check that this machine can reach the Python package index. A hash "
        "mismatch means a downloaded file is not the one that was locked: do not work around it.",
    )
    try:
        installed = json.loads(Path(layout.stamp).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        installed = {}
    installed.update({name: file_digest(ROOT / name) for name in stale})
    Path(layout.stamp).write_text(json.dumps(installed, indent=1), encoding="utf-8")


def update_locks(layout: Layout) -> int:
    """`run.sh lock`: pin the whole tree of requirements*.txt with hashes for every platform."""
    ensure_venv(layout)
    step(f"Installing uv {UV_VERSION} into .venv (it resolves and hashes the tree)")
    run(
        [str(layout.python), "-m", "pip", "install", "--disable-pip-version-check", "-q", f"uv=={UV_VERSION}"],
        problem="Installing uv failed.",
        todo="Check that this machine can reach the Python package index.",
    )
    inputs: list[str] = []
    for name, lock in LOCKS.items():
        inputs.append(name)  # the test lock holds the runtime packages too, at the same versions
        step(f"Writing {lock} from {' + '.join(inputs)}")
        run(
            [str(layout.python), "-m", "uv", "pip", "compile", *inputs, "--universal", "--generate-hashes",
             "--python-version", f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}", "--no-header", "--quiet", "-o", lock],
            problem=f"Resolving {' + '.join(inputs)} failed.",
            todo="Read the error above: two pins may not fit together.",
        )  # fmt: skip
    print("\nCommit requirements.lock and requirements-test.lock; the next start installs exactly these files.")
    return 0


def npm_command() -> str:
    npm = shutil.which("npm")  # finds npm.cmd on Windows
    if not npm:
        raise SetupError(
            "npm was not found; it is needed once to install bun.",
            "Install Node.js 20 or newer with npm (Windows: from nodejs.org; Debian/Ubuntu: apt-get install "
            "nodejs npm), then run this again.",
        )
    return npm


def bun_version(layout: Layout) -> str:
    try:
        result = subprocess.run([str(layout.bun), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def ensure_bun(layout: Layout) -> None:
    """Reflex builds the page with bun; its own installer downloads from the internet, so bun
    comes from the npm registry into .tools/ (the binary ships inside the package)."""
    if bun_version(layout) == BUN_VERSION:
        step(f"bun {BUN_VERSION} is installed in .tools")
        return
    npm = npm_command()
    step(f"Installing bun {BUN_VERSION} from the npm registry into .tools")
    base = [npm, "install", "-g", "--prefix", str(layout.tools), "--no-fund", "--no-audit"]
    try:
        # npm 11 runs install scripts only when allowed; older npm does not know the flag.
        run([*base, "--allow-scripts=bun", f"bun@{BUN_VERSION}"], problem="", todo="", quiet=True)
    except SetupError:
        run(
            [*base, f"bun@{BUN_VERSION}"],
            problem="Installing bun failed.",
            todo="Check that npm can reach its registry (npm ping).",
            quiet=True,
        )
    if bun_version(layout) != BUN_VERSION:
        raise SetupError(f"bun was installed but {layout.bun} does not run.", "Delete the .tools folder and try again.")


def npm_registry_env(env: dict[str, str]) -> None:
    """Reflex probes npm mirrors unless told which registry to use: the npm client's own."""
    npm = shutil.which("npm")
    if not npm or env.get("NPM_CONFIG_REGISTRY"):
        return
    try:
        result = subprocess.run([npm, "config", "get", "registry"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return
    if result.returncode == 0 and result.stdout.strip():
        env["NPM_CONFIG_REGISTRY"] = result.stdout.strip()


def check_config_and_migrate(layout: Layout, env: dict[str, str], tool: str) -> tuple[str, int, Path]:
    """Read the configuration, bring the database up to date; returns the service host, port and
    data folder. One process for all three, since each start of Python costs half a second."""
    step(f"Reading the configuration ({env.get('FABRIX_CHAT_SECRETS') or 'secrets.toml'}) and migrating the database")
    command = [str(layout.python), "-m", "fabrix_chat.manage", "prepare-start"]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace"
    )
    lines = result.stdout.strip().splitlines()
    bind_line = lines.pop() if result.returncode == 0 and lines else ""
    print("\n".join(lines), flush=True)
    if result.stderr.strip():
        print(result.stderr.strip(), file=sys.stderr, flush=True)
    if result.returncode == 2:
        raise SetupError(
            "The configuration cannot be used (see the message above).",
            "Fix the file named above (compare with secrets.toml.example), or remove it to start in demo mode.",
        )
    if result.returncode != 0:
        raise SetupError(
            "The database could not be opened or migrated (see the message above).",
            f"Read the error above; '{tool} manage check' tests the database.",
        )
    bind = json.loads(bind_line)
    return bind["host"], int(bind["port"]), Path(bind["data_dir"])


def prepare(layout: Layout, requirement_files: list[str], *, bun: bool = True) -> dict[str, str]:
    """The virtual environment with the pinned packages, bun (to build the page), and the
    environment to run them with."""
    ensure_venv(layout)
    ensure_packages(layout, requirement_files)
    env = base_env(layout)
    if bun:
        use_bun(layout, env)
    return env


def use_bun(layout: Layout, env: dict[str, str]) -> None:
    """bun installed, and `env` set for Reflex to build the page with it."""
    ensure_bun(layout)
    env["REFLEX_BUN_PATH"] = str(layout.bun)
    npm_registry_env(env)


# --- ports and the PID file -----------------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name == "nt":
            # Windows lets SO_REUSEADDR steal a port in use; ask for it exclusively instead.
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_EXCLUSIVEADDRUSE", socket.SO_REUSEADDR), 1)
        else:
            # Like the servers themselves: a port left in TIME_WAIT by the last run is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pid_is_running(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another account
    return True


def read_pid_file(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def refuse_second_start(pid_file: Path, host: str, port: int, tool: str) -> None:
    """A plain message when service mode already runs here, or another program holds the port."""
    record = read_pid_file(pid_file)
    port_free = port_is_free(host, port)
    # A process with that number that does not hold the port is not ours (numbers are reused
    # after a reboot): the file is stale, and nobody is told to kill an unrelated program.
    if record and record.get("port") == port and not port_free and pid_is_running(record["pid"]):
        stop = "close its window or end it in Task Manager" if os.name == "nt" else f"kill {record['pid']}"
        raise SetupError(
            f"FabriX Agent Chat is already running on port {port} (process {record['pid']}, {pid_file}).",
            f"Use the running one, or stop it first ({stop}).",
        )
    if not port_free:
        raise SetupError(
            f"Port {port} on {host} is already in use by another program.",
            f"Stop that program, or choose another [server] port in secrets.toml, then run '{tool} service' again.",
        )


def write_pid_file(path: Path, pid: int, host: str, port: int, server_pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "server_pid": server_pid, "host": host, "port": port, "started": time.time()}
    path.write_text(json.dumps(record), encoding="utf-8")
    if os.name != "nt":
        os.chmod(path, 0o600)


def remove_pid_file(path: Path, pid: int) -> None:
    record = read_pid_file(path)
    if record and record["pid"] == pid:
        path.unlink(missing_ok=True)


# --- the built front end ----------------------------------------------------------------------


def build_fingerprint(root: Path, host: str, port: int) -> str:
    """What the service build depends on: the app's code and assets, the pinned packages and the
    port, which Reflex writes into the page (it connects back to that port)."""
    digest = hashlib.sha256(f"{host}\n{port}\n".encode())
    for name in BUILD_INPUTS:
        top = root / name
        files = sorted(top.rglob("*")) if top.is_dir() else [top]
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def build_is_current(web_dir: Path, fingerprint: str) -> bool:
    try:
        stamp = json.loads((web_dir / BUILD_STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp.get("fingerprint") == fingerprint and (web_dir / "build" / "client" / "index.html").exists()


def ensure_service_build(layout: Layout, env: dict[str, str], host: str, port: int) -> None:
    web_dir = Path(layout.web_dir(env))
    fingerprint = build_fingerprint(ROOT, host, port)
    if build_is_current(web_dir, fingerprint):
        step("The service front end is up to date (built earlier for this code and port)")
        return
    env = dict(env)
    use_bun(layout, env)
    step("Building the service front end (once; again only when the code, packages or port change)")
    (web_dir / BUILD_STAMP_NAME).unlink(missing_ok=True)
    build_env = dict(env, REFLEX_FRONTEND_PORT=str(port), REFLEX_BACKEND_PORT=str(port), REFLEX_BACKEND_HOST=host)
    run(
        [str(layout.python), "-m", "reflex", "export", "--frontend-only", "--no-zip", "--env", "prod"],
        env=build_env,
        problem="Building the front end failed.",
        todo="Read the error above. Deleting the .web folder and starting again rebuilds it from scratch.",
    )
    (web_dir / BUILD_STAMP_NAME).write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")


# --- starting the app -------------------------------------------------------------------------


def run_server(command: list[str], env: dict[str, str], on_start=None) -> int:
    """Run the app in the foreground until it ends; Ctrl+C and a service manager's stop request
    reach it, and the launcher waits for it to finish cleanly."""
    process = subprocess.Popen([str(part) for part in command], cwd=ROOT, env=env)
    if on_start is not None:
        on_start(process)

    def forward(signum, _frame):
        if process.poll() is None:
            process.send_signal(signum)

    if os.name != "nt":
        signal.signal(signal.SIGTERM, forward)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            # A console's Ctrl+C reaches the app too; `kill -INT` of the launcher alone does not:
            # then pass it on. Give the app time to shut down, then insist.
            try:
                return process.wait(timeout=2)
            except (KeyboardInterrupt, subprocess.TimeoutExpired):
                if os.name != "nt" and process.poll() is None:
                    process.send_signal(signal.SIGINT)
            try:
                return process.wait(timeout=30)
            except (KeyboardInterrupt, subprocess.TimeoutExpired):
                process.kill()
                return process.wait()


def dev_ports(args: list[str]) -> tuple[int, int, list[str]]:
    """The ports of development mode (--frontend-port/--backend-port, else 3000 and 8000), and the
    other arguments for `reflex run`. The ports are always passed on: Reflex would otherwise move
    silently to the next free port while this launcher printed the wrong address."""
    ports = {"--frontend-port": DEV_FRONTEND_PORT, "--backend-port": DEV_BACKEND_PORT}
    rest: list[str] = []
    i = 0
    while i < len(args):
        name, has_value, value = args[i].partition("=")
        if name in ports:
            if not has_value:
                i += 1
                value = args[i] if i < len(args) else ""
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise SetupError(f"{name} needs a port number, got {value!r}.", USAGE)
            ports[name] = int(value)
        else:
            rest.append(args[i])
        i += 1
    return ports["--frontend-port"], ports["--backend-port"], rest


def start_dev(layout: Layout, args: list[str], tool: str) -> int:
    frontend, backend, rest = dev_ports(args)
    env = prepare(layout, [REQUIREMENTS])
    check_config_and_migrate(layout, env, tool)
    for name, port in (("front end", frontend), ("back end", backend)):
        if not port_is_free("127.0.0.1", port):
            raise SetupError(
                f"Port {port} (the {name} of development mode) is already in use.",
                f"Stop the program using it, or pick free ports: {tool} dev --frontend-port 3001 --backend-port 8001",
            )
    step(f"Starting development mode: http://localhost:{frontend} (back end on :{backend}; Ctrl+C stops)")
    command = [str(layout.python), "-m", "reflex", "run", "--env", "dev"]
    command += ["--frontend-port", str(frontend), "--backend-port", str(backend), *rest]
    return run_server(command, env)


def start_service(layout: Layout, tool: str) -> int:
    env = prepare(layout, [REQUIREMENTS], bun=False)
    host, port, data_dir = check_config_and_migrate(layout, env, tool)
    pid_file = data_dir / PID_FILE_NAME
    refuse_second_start(pid_file, host, port, tool)
    ensure_service_build(layout, env, host, port)  # installs bun only when it must build
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    step(f"Starting service mode on http://{shown}:{port} (listening on {host}; Ctrl+C stops)")
    me = os.getpid()
    try:
        return run_server(
            [str(layout.python), "-m", "fabrix_chat.serve", host, str(port)],
            env,
            on_start=lambda process: write_pid_file(pid_file, me, host, port, process.pid),
        )
    finally:
        remove_pid_file(pid_file, me)


# --- tests ------------------------------------------------------------------------------------


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(packages: list[str], why: str, *, required: bool) -> None:
    step(f"Installing {' '.join(packages)} {why} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run(["apt-get", "update", "-q"], env=env, problem="apt-get update failed.", todo="", quiet=True)
        run(["apt-get", "install", "-y", "-q", *packages], env=env, problem="", todo="", quiet=True)
    except SetupError as exc:
        if required:
            raise SetupError(
                f"Installing {' '.join(packages)} failed.", f"Run: sudo apt-get install {' '.join(packages)}"
            ) from exc
        print(f"WARNING: could not install {' '.join(packages)}; the tests that need them will be skipped.")


def debian_test_packages() -> tuple[list[str], list[str]]:
    """(required, optional) Debian packages the suite needs that are missing on this machine."""
    required = [] if Path("/usr/bin/chromium").exists() else ["chromium"]
    optional = []
    if not shutil.which("redis-server"):
        optional.append("redis-server")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        optional.append("postgresql")
    if not Path("/usr/sbin/slapd").exists():
        optional.append("slapd")  # the directory sign-in tests' OpenLDAP server (tests/ldap_server.py)
    if not shutil.which("openssl"):
        optional.append("openssl")  # makes that server's TLS certificate
    if not Path("/usr/share/fonts/truetype/nanum").exists():
        optional.append("fonts-nanum")  # Korean letters in the screenshots, not boxes
    return required, optional


def windows_browser(environ: dict[str, str], exists=os.path.exists) -> str | None:
    """Chrome or Edge for the browser tests on Windows (FABRIX_CHROMIUM wins)."""
    if environ.get("FABRIX_CHROMIUM") and exists(environ["FABRIX_CHROMIUM"]):
        return environ["FABRIX_CHROMIUM"]
    for base in (environ.get("ProgramFiles"), environ.get("ProgramFiles(x86)"), environ.get("LOCALAPPDATA")):
        if not base:
            continue
        for relative in (r"Google\Chrome\Application\chrome.exe", r"Microsoft\Edge\Application\msedge.exe"):
            candidate = str(PureWindowsPath(base, relative))
            if exists(candidate):
                return candidate
    return None


def ensure_test_browser(env: dict[str, str]) -> None:
    if os.name == "nt":
        browser = windows_browser(env)
        if not browser:
            raise SetupError(
                "No Chrome or Edge was found for the browser tests.",
                "Install Chrome or Edge, or set FABRIX_CHROMIUM to a Chromium-based browser's .exe.",
            )
        env["FABRIX_CHROMIUM"] = browser
        step(f"Browser for the browser tests: {browser}")
        return
    required, optional = debian_test_packages()
    can_apt = is_root() and shutil.which("apt-get")
    if required and not can_apt:
        raise SetupError(
            "Browser tests need /usr/bin/chromium.", "Run: sudo apt-get install chromium   (then test again)"
        )
    if required:
        apt_install(required, "for the browser tests", required=True)
    if optional and can_apt:
        apt_install(optional, "for the scale-out, PostgreSQL and directory tests and screenshots", required=False)
    step("Chromium for browser tests: /usr/bin/chromium")


def ensure_axe(layout: Layout) -> None:
    """axe-core, injected into pages by the accessibility audit."""
    if Path(layout.axe).exists():
        return
    step(f"Installing axe-core {AXE_VERSION} from the npm registry into .tools/axe (accessibility audit)")
    run(
        [
            npm_command(),
            "install",
            "--prefix",
            str(layout.tools / "axe"),
            "--no-fund",
            "--no-audit",
            f"axe-core@{AXE_VERSION}",
        ],
        problem="Installing axe-core failed.",
        todo="Check that npm can reach its registry (npm ping).",
        quiet=True,
    )


def run_tests(layout: Layout, args: list[str]) -> int:
    env = prepare(layout, [REQUIREMENTS, TEST_REQUIREMENTS])
    ensure_test_browser(env)
    ensure_axe(layout)
    pytest = [str(layout.python), "-m", "pytest"]
    if args:
        step(f"Running the tests: pytest {' '.join(args)}")
        code = subprocess.run([*pytest, *args], cwd=ROOT, env=env).returncode
    else:
        code = run_whole_suite(pytest, env, ROOT / "tests" / "artifacts" / "unit-and-integration.log")
    if code != 0:
        raise SetupError(
            f"Some tests failed (exit code {code}).", "Read the failures above; tests/artifacts/ has screenshots."
        )
    return 0


def run_whole_suite(pytest: list[str], env: dict[str, str], log_path: Path) -> int:
    """The unit and integration tests run beside the browser tests, which mostly wait for the app
    and Chromium: on two cores the whole suite then takes about as long as its browser half alone.
    The first half's output goes to `log_path` and is shown when both are done. Returns the first
    non-zero exit code (the browser tests' when both failed)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    step(f"Running the test suite: unit and integration tests (into {log_path.name}) beside the browser tests")
    with open(log_path, "w", encoding="utf-8") as log:
        quick = subprocess.Popen(
            [*pytest, "tests", "--ignore=tests/e2e"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            browser_code = subprocess.run([*pytest, "tests/e2e"], cwd=ROOT, env=env).returncode
        finally:
            quick_code = quick.wait()  # Ctrl+C reaches both: they share the console's process group
    step(f"Unit and integration tests ({log_path}):")
    print(log_path.read_text(encoding="utf-8", errors="replace"), flush=True)
    for name, code in (("Unit and integration tests", quick_code), ("Browser tests", browser_code)):
        print(f"{name}: {'passed' if code == 0 else f'FAILED (exit code {code})'}", flush=True)
    return browser_code or quick_code


# --- Windows: keep service mode running -----------------------------------------------------------


def windows_task_xml(python: str, launcher: str, workdir: str, user: str = "") -> str:
    """A Task Scheduler definition: start at boot, restart every minute after a failure (up to
    999 times), no time limit. `schtasks /Create /TN "FabriX Agent Chat" /XML FILE` imports it."""
    from xml.sax.saxutils import escape

    principal = (
        f"<UserId>{escape(user)}</UserId><LogonType>Password</LogonType>"
        if user
        else "<UserId>S-1-5-18</UserId><RunLevel>HighestAvailable</RunLevel>"  # LocalSystem
    )
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>FabriX Agent Chat in service mode</Description></RegistrationInfo>
  <Triggers><BootTrigger><Enabled>true</Enabled></BootTrigger></Triggers>
  <Principals><Principal id="Author">{principal}</Principal></Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure><Interval>PT1M</Interval><Count>999</Count></RestartOnFailure>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(python)}</Command>
      <Arguments>{escape(subprocess.list2cmdline([launcher, "service"]))}</Arguments>
      <WorkingDirectory>{escape(workdir)}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def write_windows_task(args: list[str]) -> int:
    user = args[args.index("--user") + 1] if "--user" in args and args.index("--user") + 1 < len(args) else ""
    target = ROOT / "fabrix-chat-task.xml"
    # The task runs this same Python on this file: no console window, so nothing waits on a key.
    xml = windows_task_xml(sys.executable, str(ROOT / "launcher.py"), str(ROOT), user)
    target.write_text(xml, encoding="utf-16")
    step(f"Wrote {target}")
    account = f' /RU "{user}" /RP *' if user else ""  # /RP * makes schtasks ask for the password
    print(f'Import it (as administrator):  schtasks /Create /TN "FabriX Agent Chat" /XML "{target}"{account}')
    print('Start it now:                  schtasks /Run /TN "FabriX Agent Chat"')
    return 0


# --- entry point --------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    layout = Layout.here()
    tool = "run.bat" if layout.windows else "./run.sh"
    mode, args = (argv[0], argv[1:]) if argv else ("dev", [])
    try:
        if not python_is_new_enough():
            raise SetupError(
                f"Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer is needed; this is {sys.version.split()[0]}.",
                "Install Python 3.11 or newer and run this again.",
            )
        if mode == "dev":
            return start_dev(layout, args, tool)
        if mode == "service":
            return start_service(layout, tool)
        if mode == "test":
            return run_tests(layout, args)
        if mode == "manage":
            env = prepare(layout, [REQUIREMENTS], bun=False)
            return subprocess.run([str(layout.python), "-m", "fabrix_chat.manage", *args], cwd=ROOT, env=env).returncode
        if mode == "lock":
            return update_locks(layout)
        if mode == "windows-task":
            return write_windows_task(args)
        raise SetupError(f"Unknown mode '{mode}'.", USAGE.replace("run.sh", tool))
    except SetupError as exc:
        print(f"\nERROR: {exc.problem}", file=sys.stderr)
        if exc.todo:
            print(f"What to do: {exc.todo}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
