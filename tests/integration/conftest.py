"""Integration fixtures: a real PostgreSQL server for the test session, when one is installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import pg

_skipped: list[str] = []


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of an empty database on a throwaway PostgreSQL server (skips when none is installed)."""
    bindir = pg.find_bindir()
    if bindir is None:
        _skipped.append(pg.SKIP_REASON)
        pytest.skip(pg.SKIP_REASON)
    with pg.running_postgres(bindir) as url:
        yield url


def pytest_terminal_summary(terminalreporter) -> None:
    """Say at the end of the run, even without -rs, that the PostgreSQL tests did not run."""
    if _skipped:
        terminalreporter.write_line(f"PostgreSQL tests skipped: {_skipped[0]}", yellow=True, bold=True)
