"""SQLite on a data disk with not one byte left (a real size-limited tmpfs, tests/small_disk.py):
asking says the disk is full in plain words and gives the question back, nothing half-saved is
left, and once space is freed the same tab asks again without a reload. (The browser test of a
full disk, tests/e2e/test_dependency_failures.py, keeps the database on another disk.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from fabrix_chat import db, i18n
from fabrix_chat.models import Message
from fabrix_chat.state.agents import AgentState
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.conversation import ConversationState
from tests.reflex_tab import set_value_of
from tests.small_disk import SmallDisk, SmallDiskUnavailable, small_disk
from tests.unit import test_chat_state
from tests.unit.test_chat_state import Tab, signed_in

agents = test_chat_state.agents
no_fabrix = test_chat_state.no_fabrix


@pytest.fixture
def full_disk(tmp_path, monkeypatch) -> Iterator[tuple[object, SmallDisk]]:
    """The app's database on an 8 MB tmpfs (filled by the test)."""
    try:
        mounted = small_disk(tmp_path / "disk", size_mb=8)
        disk = mounted.__enter__()
    except SmallDiskUnavailable as exc:
        pytest.skip(str(exc))
    engine = db.make_engine(f"sqlite:///{(disk.path / 'fabrix_chat.db').as_posix()}")
    SQLModel.metadata.create_all(engine)
    monkeypatch.setattr(db, "get_engine", lambda: engine)
    try:
        yield engine, disk
    finally:
        engine.dispose()
        mounted.__exit__(None, None, None)


def questions(engine) -> list[str]:
    with Session(engine) as session:
        return [m.content for m in session.exec(select(Message).where(Message.role == "user"))]


async def test_asking_on_a_full_disk_says_so_and_works_again_once_space_is_freed(full_disk, agents) -> None:
    engine, disk = full_disk
    _user_id, token = signed_in(engine, "alice")
    tab = Tab(token)
    await tab.run(AgentState.load_agents)
    await tab.run(ChatState.load_page)
    with engine.connect() as connection:  # the write-ahead log to nothing: every write needs new space
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    disk.fill_completely()
    assert disk.free_mb() < 0.01

    typed = "What does the disk-full test check? " * 200
    sent = await tab.run(ConversationState.send_message, {"message": typed})

    assert tab.chat.alert_text == i18n.t("error_disk_full", "en")
    assert set_value_of(sent) == ("composer-input", typed.strip())  # the question back in the box
    assert questions(engine) == [] and tab.conversation.conversation_id == 0

    disk.free_space()
    await tab.run(ConversationState.send_message, {"message": typed})
    assert tab.chat.alert_text == ""
    assert questions(engine) == [typed.strip()] and tab.conversation.conversation_id > 0
