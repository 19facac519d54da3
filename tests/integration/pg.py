"""A throwaway PostgreSQL server for the tests, from Debian's `postgresql` package.

`running_postgres()` creates a cluster in a temporary folder, starts it on a free loopback port with
trust authentication, creates an empty database and yields its SQLAlchemy URL; on exit the server
is stopped and the folder deleted. PostgreSQL refuses to run as root, so under root every server
command runs as the `postgres` system user the package creates.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

SKIP_REASON = "PostgreSQL server not installed (Debian package postgresql); ./run.sh test installs it when run as root"
SERVER_USER = "postgres"
DATABASE = "fabrix_test"
# Not UTC on purpose: the app must store and read correct instants whatever the server's zone is.
SERVER_TIMEZONE = "Asia/Seoul"
# Durability is worthless for a throwaway cluster; without fsync the tests run several times faster.
SERVER_OPTIONS = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]


def find_bindir() -> Path | None:
    """The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/N/bin, else initdb on PATH."""

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """The command as it must be run: unchanged, or as the postgres user when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_USER, "--", *command]
    return ["su", "-s", "/bin/sh", SERVER_USER, "-c", shlex.join(command)]


def _run(command: list[str], what: str, cwd: Path) -> None:
    result = subprocess.run(_as_server_user(command), cwd=cwd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"PostgreSQL {what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")


@contextmanager
def running_postgres(bindir: Path, database: str = DATABASE) -> Iterator[str]:
    """Start a private server, yield postgresql+psycopg://postgres@127.0.0.1:PORT/<database>, then remove it."""
    root = Path(tempfile.mkdtemp(prefix="fabrix-pg-"))
    data, log = root / "data", root / "server.log"
    try:
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(
                    f"PostgreSQL is installed in {bindir} but there is no '{SERVER_USER}' system user to run it "
                    "(PostgreSQL refuses to run as root); reinstall the Debian package postgresql"
                ) from None
            os.chown(root, account.pw_uid, account.pw_gid)
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        _run(initdb + ["-E", "UTF8", "--no-locale", "--no-sync"], "initdb", root)
        port = _free_port()
        options = ["-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(root)]
        options += ["-c", f"timezone={SERVER_TIMEZONE}", *SERVER_OPTIONS]
        command = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30"]
        command += ["-o", shlex.join(options), "start"]
        try:
            _run(command, "start", root)
        except RuntimeError as exc:
            server_log = log.read_text(errors="replace") if log.exists() else "(no server log)"
            raise RuntimeError(f"{exc}\nserver log:\n{server_log}") from None
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        yield create_database(url, database)
    finally:
        try:
            if (data / "postmaster.pid").exists():  # running, even if `start` gave up waiting for it
                _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], "stop", root)
        finally:
            shutil.rmtree(root)


def create_database(url: str, name: str) -> str:
    """(Re)create an empty database `name` on the server of `url`; returns its URL."""
    target = make_url(url)
    with psycopg.connect(
        host=target.host, port=target.port, user=target.username, dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return target.set(database=name).render_as_string(hide_password=False)


class ServerControl:
    """Stop, start and restart the running server of `url` (one of running_postgres's), the way an
    operator does with `pg_ctl` (a fast shutdown: open connections are closed)."""

    def __init__(self, url: str, bindir: Path) -> None:
        target = make_url(url)
        with psycopg.connect(
            host=target.host, port=target.port, user=target.username, dbname="postgres", autocommit=True
        ) as connection:
            self.data = Path(connection.execute("SHOW data_directory").fetchone()[0])
        self.bindir = bindir
        # The options the server was started with, to start it again the same way.
        recorded = shlex.split((self.data / "postmaster.opts").read_text().strip())[1:]
        options, skip = [], False
        for arg in recorded:
            if skip:
                skip = False
            elif arg == "-D":
                skip = True
            else:
                options.append(arg)
        self.options = shlex.join(options)

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args]
        _run(command, args[-1], self.data.parent)

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.data.parent / "server.log"), "-o", self.options, "start")

    def restart(self, down_seconds: float = 0.0) -> None:
        import time

        self.stop()
        time.sleep(down_seconds)
        self.start()
