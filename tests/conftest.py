"""Shared fixtures. Every test run gets its own secrets.toml and data folder, so no test ever
touches a real configuration or database."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_RUN_DIR = Path(tempfile.mkdtemp(prefix="fabrix-tests-"))
_SECRETS = _RUN_DIR / "secrets.toml"
_SECRETS.write_text(f'[server]\ndata_dir = "{(_RUN_DIR / "data").as_posix()}"\n', encoding="utf-8")
os.environ["FABRIX_CHAT_SECRETS"] = str(_SECRETS)

from sqlmodel import Session, SQLModel  # noqa: E402

import fabrix_chat.models  # noqa: E402,F401
from fabrix_chat.db import make_engine  # noqa: E402


@pytest.fixture
def engine(tmp_path: Path):
    """A fresh SQLite file with every table, with the app's pragmas."""
    engine = make_engine(f"sqlite:///{(tmp_path / 'test.db').as_posix()}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.commit()


@pytest.fixture
def app_db(engine, monkeypatch):
    """Point the app's own engine (db.get_engine, used by run_db) at the test database."""
    from fabrix_chat import db

    monkeypatch.setattr(db, "get_engine", lambda: engine)
    return engine


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch):
    from fabrix_chat.services import auth

    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: sync Playwright keeps an event loop running in the main thread
    for the rest of the session, which async tests after it could not use."""
    items.sort(key=lambda item: "/e2e/" in str(item.path).replace("\\", "/"))
