"""A conversation as Markdown (services/export.py); the export handlers are tested with the chat
state (test_chat_state.py)."""

from __future__ import annotations

from datetime import datetime

from fabrix_chat.models import Conversation, Message
from fabrix_chat.services import export

WHEN = datetime(2026, 11, 30, 9, 15)
ANSWER = "Here is the fix:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n| a | b |\n| - | - |\n| 1 | 2 |"


def conversation() -> tuple[Conversation, list[Message]]:
    chat = Conversation(
        id=7, user_id=1, title="Fix: the adder / part 2?", agent_id="a1", created_at=WHEN, updated_at=WHEN
    )
    messages = [
        Message(
            id=1,
            conversation_id=7,
            seq=0,
            role="user",
            content="Why does it fail?",
            created_at=WHEN,
            attachment_name="adder.py",
            attachment_size=2048,
        ),
        Message(id=2, conversation_id=7, seq=1, role="assistant", content=ANSWER, created_at=WHEN),
        Message(id=3, conversation_id=7, seq=2, role="user", content="And in Korean?", created_at=WHEN),
        Message(id=4, conversation_id=7, seq=3, role="assistant", content="부분", status="stopped", created_at=WHEN),
    ]
    return chat, messages


def test_the_document_has_the_title_dates_agent_and_every_message_with_its_role_and_time() -> None:
    text = export.conversation_markdown(*conversation(), "Code Helper", "en")
    assert text.startswith("# Fix: the adder / part 2?\n")
    assert "- Agent: Code Helper" in text and "- Started: " in text and "- Last activity: " in text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split(" · ")[0] for h in headings] == ["## You", "## Assistant", "## You", "## Assistant"]
    assert all(" · " in h and h.endswith(":15") for h in headings)  # each with its time
    assert ANSWER in text  # the code block and the table intact
    assert "*Attached file: `adder.py` (2.0 KB)*" in text
    assert text.rstrip().endswith("*Stopped*")


def test_the_labels_follow_the_language() -> None:
    text = export.conversation_markdown(*conversation(), "코드 도우미", "ko")
    assert "## 나 · " in text and "## 어시스턴트 · " in text and "- 에이전트: 코드 도우미" in text
    assert "*첨부 파일: `adder.py` (2.0 KB)*" in text and "*중지됨*" in text


def test_the_file_name_is_safe_on_every_system() -> None:
    chat, _ = conversation()
    assert export.export_filename(chat) == "Fix the adder part 2 2026-11-30.md"
    chat.title = ' <>:"/\\|?* '
    assert export.export_filename(chat) == "chat 2026-11-30.md"
