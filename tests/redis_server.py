"""A throwaway redis-server on a free loopback port, for the tests that need a real one."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import redis


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
