"""Share links at the handler level: the owner's Share chat dialog (Copy link, Stop sharing), the
shared copy at /shared/{token} for any signed-in user, Continue in my chats, and everyone else
(another user, a signed-out visitor, a forged token) getting nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from fabrix_chat import web
from fabrix_chat.models import Conversation, Message, Share
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.repo import shares as share_repo
from fabrix_chat.repo import users as users_repo
from fabrix_chat.services import auth as auth_service
from fabrix_chat.state.auth import LoginState
from fabrix_chat.state.chat import ChatState
from fabrix_chat.state.share import SharedState, ShareState
from fabrix_chat.state.sidebar import SidebarState
from tests.reflex_tab import js_of, redirect_path
from tests.unit import test_chat_state as chat_tests
from tests.unit.test_chat_state import NOT_FOUND, Tab, snapshot

# The chat tests' users: Alice with her private conversation, Bob signed in too.
agents = chat_tests.agents
two_users = chat_tests.two_users


PASSWORD = "correct horse battery"


class ShareTab(Tab):
    @property
    def share(self) -> ShareState:
        return self.get(ShareState)

    @property
    def shared(self) -> SharedState:
        return self.get(SharedState)


def shares_in(engine) -> list[Share]:
    with Session(engine) as session:
        return list(session.exec(select(Share)))


async def alice_shares(two_users) -> tuple[ShareTab, str]:
    """Alice opens her conversation and presses Share chat, then Copy link: (her tab, the path)."""
    tab = ShareTab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(ChatState.load_page)
    await tab.run(ShareState.open_share)
    assert tab.share.share_open and tab.share.share_path == ""
    event = await tab.run(ShareState.copy_link)
    path = tab.share.share_path
    assert path.startswith("/shared/") and share_repo.valid_token(path.removeprefix("/shared/"))
    assert "navigator.clipboard.writeText(window.location.origin + " in js_of(event) and path in js_of(event)
    return tab, path


async def test_copy_link_shares_a_copy_that_any_signed_in_user_can_read(app_db, two_users):
    tab, path = await alice_shares(two_users)
    assert [c.shared for c in tab.sidebar.conversations] == [True]  # the owner sees it is shared
    with Session(app_db) as session:
        conv_repo.add_message(
            session=session, user_id=two_users["a"], conversation_id=two_users["secret"], role="user", content="Later"
        )
        session.commit()
    bob = ShareTab(two_users["b_token"], path)
    assert await bob.run(SharedState.load) is None
    assert bob.shared.found and bob.shared.title == "Alice's merger plan"
    # A copy of the chat as it was: what came later is not in it.
    assert [(m.role, m.content) for m in bob.shared.messages] == [
        ("user", "What is the secret merger code?"),
        ("assistant", "The code is BLUE-HERON-42."),
    ]
    held = bob.held()
    assert "alice@example.com" not in held and "'Later'" not in held
    # Copy link again renews the copy and keeps the link.
    await tab.run(ShareState.copy_link)
    assert tab.share.share_path == path
    await bob.run(SharedState.load)
    assert bob.shared.messages[-1].content == "Later"


async def test_stop_sharing_ends_the_link_at_once(app_db, two_users):
    tab, path = await alice_shares(two_users)
    bob = ShareTab(two_users["b_token"], path)
    await bob.run(SharedState.load)
    assert bob.shared.found
    await tab.run(ShareState.stop_sharing)
    assert tab.share.share_path == "" and shares_in(app_db) == []
    assert [c.shared for c in tab.sidebar.conversations] == [False]
    # The viewer's page, still open, can no longer copy it; reloaded it says it is no longer shared.
    before = snapshot(app_db, two_users["secret"])
    assert await bob.run(SharedState.continue_in_my_chats) is None
    assert not bob.shared.found and bob.shared.messages == []
    await bob.run(SharedState.load)
    assert bob.shared.loaded and not bob.shared.found and "BLUE-HERON" not in bob.held()
    with Session(app_db) as session:
        assert len(session.exec(select(Conversation)).all()) == 1
    assert snapshot(app_db, two_users["secret"]) == before


async def test_continue_in_my_chats_makes_the_copy_a_chat_of_the_viewer(app_db, two_users):
    _tab, path = await alice_shares(two_users)
    bob = ShareTab(two_users["b_token"], path)
    await bob.run(SharedState.load)
    event = await bob.run(SharedState.continue_in_my_chats)
    new_id = int(redirect_path(event).removeprefix("/chat/"))
    with Session(app_db) as session:
        copy = session.get(Conversation, new_id)
        assert copy.user_id == two_users["b"] and copy.title == "Alice's merger plan"
        messages = conv_repo.get_messages(session=session, user_id=two_users["b"], conversation_id=new_id)
        assert [(m.seq, m.role, m.content) for m in messages] == [
            (0, "user", "What is the secret merger code?"),
            (1, "assistant", "The code is BLUE-HERON-42."),
        ]
    # Bob's own copy: he can ask in it; Alice's conversation is untouched.
    mine = Tab(two_users["b_token"], f"/chat/{new_id}")
    await mine.run(ChatState.load_page)
    assert [m.content for m in mine.page.messages][-1] == "The code is BLUE-HERON-42."
    assert len(snapshot(app_db, two_users["secret"])[2]) == 2


@pytest.mark.parametrize("token", ["", "abc", "../../etc/passwd", "A" * 32, "A" * 33, "%00" * 11, "A" * 10_000])
async def test_a_forged_or_unknown_token_shows_nothing(app_db, two_users, token):
    await alice_shares(two_users)
    bob = ShareTab(two_users["b_token"], f"/shared/{token}")
    await bob.run(SharedState.load)
    assert bob.shared.loaded and not bob.shared.found
    assert await bob.run(SharedState.continue_in_my_chats) is None
    assert "BLUE-HERON" not in bob.held()


async def test_another_user_can_neither_share_nor_stop_sharing_a_chat_not_theirs(app_db, two_users):
    _tab, path = await alice_shares(two_users)
    before = shares_in(app_db)
    bob = ShareTab(two_users["b_token"], "/chat")
    await bob.run(ChatState.load_page)
    bob.conversation.conversation_id = two_users["secret"]  # as if forged
    await bob.run(ShareState.open_share)
    assert bob.share.share_path == ""  # her link is not shown to him
    await bob.run(ShareState.copy_link)
    assert bob.chat.alert_text == NOT_FOUND and bob.share.share_path == ""
    await bob.run(ChatState.dismiss_alert)
    await bob.run(ShareState.stop_sharing)
    assert bob.chat.alert_text == NOT_FOUND
    assert [(s.id, s.token) for s in shares_in(app_db)] == [(s.id, s.token) for s in before]
    assert path.removeprefix("/shared/") not in bob.held() and "BLUE-HERON" not in bob.held()


async def test_a_signed_out_visitor_of_a_link_is_sent_to_log_in_and_back(app_db, two_users):
    _tab, path = await alice_shares(two_users)
    before = shares_in(app_db)
    visitor = ShareTab("", path)
    assert redirect_path(await visitor.run(SharedState.load)) == f"/login?next={path}"
    assert redirect_path(await visitor.run(SharedState.continue_in_my_chats)) == f"/login?next={path}"
    assert not visitor.shared.found and "BLUE-HERON" not in visitor.held()
    for handler in (ShareState.open_share, ShareState.copy_link, ShareState.stop_sharing):
        visitor.conversation.conversation_id = two_users["secret"]
        assert "/login" in str(await visitor.run(handler)), handler.fn.__name__
    assert [s.token for s in shares_in(app_db)] == [s.token for s in before]
    # Logging in on /login?next=… leads back to the link, through the session cookie's route.
    with Session(app_db) as session:
        users_repo.create_user(
            session=session,
            username="carol",
            email="carol@example.com",
            password_hash=auth_service.hash_password(PASSWORD),
        )
        session.commit()
    visitor.visit(f"/login?next={path}")
    event = await visitor.run(LoginState.log_in, {"username": "carol", "password": PASSWORD})
    assert "/auth/session?ticket=" in js_of(event) and js_of(event).endswith(f'&next={path}")')
    visitor.visit("/login?next=https://evil.example/")
    event = await visitor.run(LoginState.log_in, {"username": "carol", "password": PASSWORD})
    assert "next=" not in js_of(event) and "evil" not in js_of(event)


def test_only_a_page_of_this_app_is_a_place_to_return_to():
    token = "A" * 32
    assert web.return_path(f"/shared/{token}") == f"/shared/{token}"
    assert web.return_path("/chat/12") == "/chat/12"
    for bad in ("https://evil.example/", "//evil.example", "/shared/short", f"/shared/{token}/x", "/admin", None, ""):
        assert web.return_path(bad) == "/chat", bad


async def test_a_chat_too_long_to_share_is_refused_before_anything_is_written(app_db, two_users, monkeypatch):
    monkeypatch.setattr(share_repo, "MAX_SNAPSHOT_CHARS", 50)
    tab = ShareTab(two_users["a_token"], f"/chat/{two_users['secret']}")
    await tab.run(ChatState.load_page)
    await tab.run(ShareState.open_share)
    await tab.run(ShareState.copy_link)
    assert tab.chat.alert_text == "This chat is too long to share." and shares_in(app_db) == []


async def test_deleting_the_chat_deletes_its_share(app_db, two_users):
    tab, path = await alice_shares(two_users)
    await tab.run(SidebarState.ask_delete, two_users["secret"])
    await tab.run(SidebarState.confirm_delete)
    assert shares_in(app_db) == []
    bob = ShareTab(two_users["b_token"], path)
    await bob.run(SharedState.load)
    assert not bob.shared.found


async def test_the_copy_holds_only_the_version_on_screen(app_db, two_users):
    with Session(app_db) as session:
        conv_repo.retire_from(session=session, user_id=two_users["a"], conversation_id=two_users["secret"], seq=1)
        conv_repo.add_message(
            session=session,
            user_id=two_users["a"],
            conversation_id=two_users["secret"],
            role="assistant",
            content="I cannot say.",
        )
        session.commit()
        assert session.exec(select(Message).where(Message.content.contains("BLUE"))).one()
    _tab, path = await alice_shares(two_users)
    bob = ShareTab(two_users["b_token"], path)
    await bob.run(SharedState.load)
    assert [m.content for m in bob.shared.messages] == ["What is the secret merger code?", "I cannot say."]
    assert "BLUE-HERON" not in bob.held()
