"""A throwaway redis-server on a free loopback port, for the tests that need a real one."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_redis() -> Iterator[int]:
    """Start redis-server (no persistence), wait for PING, yield its port, stop it (no pytest here:
    the benchmarks use it too). The caller has checked that redis-server is installed."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not answer PING on port {port}") from None
                time.sleep(0.05)
        yield port
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def redis_server(skip_reason: str) -> Iterator[int]:
    """running_redis() for a test; the test is skipped when redis-server is missing."""
    if shutil.which("redis-server") is None:
        import pytest

        pytest.skip(f"redis-server not installed (Debian package redis-server); {skip_reason}")
    with running_redis() as port:
        yield port


class RestartableRedis:
    """A redis-server that can be stopped and started again on the same port and data folder, as an
    operator restarts it: `restart()` saves the data on the way down (SHUTDOWN SAVE, what Debian's
    service does with its default save points) and loads it again; `keep_data=False` loses it, as
    a crash of a server without persistence would. Starts its server in `start()`."""

    def __init__(self, data_dir) -> None:
        from pathlib import Path

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def start(self, timeout: float = 10) -> None:
        command = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.data_dir), "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise RuntimeError(f"redis-server did not answer PING on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, *, keep_data: bool = True) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if keep_data:
            # No retries: the server closes the connection as it exits, which redis-py would retry for seconds.
            client = redis.Redis(port=self.port, retry=Retry(NoBackoff(), 0))
            try:
                client.shutdown(save=True)
            except redis.ConnectionError:
                pass  # the server closes the connection as it exits
            finally:
                client.close()
        else:
            (self.data_dir / "dump.rdb").unlink(missing_ok=True)
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self, *, down_seconds: float = 0.0, keep_data: bool = True) -> None:
        self.stop(keep_data=keep_data)
        time.sleep(down_seconds)
        self.start()
