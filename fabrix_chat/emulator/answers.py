"""The demo answers: plausible markdown built from the question, and the description of an
uploaded file, for each of the demo agents."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Protocol

from fabrix_chat.units import size_label

FAULT_TAG = re.compile(r"#fault:([A-Za-z0-9_]+)")
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")

AGENTS: tuple[dict[str, str], ...] = (
    {
        "agentId": "520e8dd8-3b9c-4f1e-8a6d-1c2b3d4e5f60",
        "label": "General Assistant",
        "label_ko": "일반 도우미",
        "description": "Answers everyday work questions.",
    },
    {
        "agentId": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "label": "Code Helper",
        "label_ko": "코드 도우미",
        "description": "Explains, writes and reviews code.",
    },
    {
        "agentId": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        "label": "Document Analyst",
        "label_ko": "문서 분석가",
        "description": "Summarises and compares documents.",
    },
    {
        "agentId": "3b241101-e2bb-4255-8caf-4136c566a962",
        "label": "한국어 비서",
        "label_ko": "한국어 비서",
        "description": "한국어로 답하는 업무 비서입니다.",
    },
)


class Upload(Protocol):
    """What the file description reads of an upload (server.Upload)."""

    filename: str
    content_type: str
    size: int

    def text_head(self) -> str | None: ...
    def lines(self) -> int: ...


def clean_question(question: str) -> str:
    return " ".join(FAULT_TAG.sub("", question).split())


def _keywords(question: str) -> list[str]:
    words = re.findall(r"[0-9A-Za-z\uac00-\ud7a3_]{2,}", question)
    seen: list[str] = []
    for word in words:
        if (len(word) >= 4 or HANGUL.search(word)) and word.lower() not in {w.lower() for w in seen}:
            seen.append(word)
    return seen[:4]


def code_fence(text: str) -> str:
    """A code fence longer than any backtick run inside `text`."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def demo_answer(
    question: str, agent: dict[str, str], *, long: bool = False, html: bool = False, target_bytes: int = 100_000
) -> str:
    """A deterministic markdown answer about `question`: heading, list, table and a code block."""
    q = clean_question(question) or "(empty)"
    korean = bool(HANGUL.search(q))
    digest = int(hashlib.sha256(f"{agent['agentId']}|{q}".encode()).hexdigest(), 16)
    keywords = _keywords(q) or ["topic"]
    topic = q if len(q) <= 60 else q[:57] + "..."
    shown = q if len(q) <= 200 else q[:197] + "..."
    name = agent["label_ko"] if korean else agent["label"]
    code = (
        f"QUESTION = {shown!r}\n\n\n"
        "def summarize(text: str, limit: int = 80) -> str:\n"
        '    """Return the first sentence, trimmed to `limit` characters."""\n'
        '    first = text.split(".")[0].strip()\n'
        '    return first if len(first) <= limit else first[: limit - 1] + "…"\n\n\n'
        "print(summarize(QUESTION))\n"
    )
    if korean:
        intros = ("좋은 질문입니다.", "질문을 정리해 보면 다음과 같습니다.", "핵심부터 말씀드리겠습니다.")
        points = (
            f"**{keywords[0]}**: 먼저 목적과 범위를 분명히 정하세요.",
            f"**{keywords[-1]}**: 관련 자료와 담당자를 확인하세요.",
            "작은 단위로 나누어 진행하고 결과를 기록하세요.",
            "결정 사항은 팀과 공유하고 다음 단계를 정하세요.",
        )
        parts = [
            f"## {topic}",
            "",
            f'{intros[digest % len(intros)]} **{name}**가 "{shown}"에 대해 답변드립니다 (데모 에뮬레이터 응답).',
            "",
            "### 요점",
            "",
            *[f"{i}. {p}" for i, p in enumerate(points[digest % 2 :], 1)],
            "",
            "| 항목 | 내용 |",
            "| --- | --- |",
            f"| 질문 길이 | {len(q)}자 |",
            f"| 키워드 | {', '.join(keywords)} |",
            f"| 에이전트 | {name} |",
            "",
            "```python",
            code.rstrip("\n"),
            "```",
            "",
            "> 데모 모드입니다. 실제 답변을 받으려면 secrets.toml에 FabriX 키를 설정하세요 ✓",
        ]
    else:
        intros = ("Good question.", "Here is a short overview.", "Let's break this down.")
        points = (
            f"**{keywords[0].capitalize()}**: start by stating the goal and the scope.",
            f"**{keywords[-1].capitalize()}**: check the related documents and owners.",
            "Work in small steps and write down each result.",
            "Share the decisions with the team → agree on the next step.",
        )
        parts = [
            f"## {topic}",
            "",
            f'{intros[digest % len(intros)]} **{name}** answers "{shown}" (a demo answer from the emulator).',
            "",
            "### Key points",
            "",
            *[f"{i}. {p}" for i, p in enumerate(points[digest % 2 :], 1)],
            "",
            "| Aspect | Notes |",
            "| --- | --- |",
            f"| Question length | {len(q)} characters |",
            f"| Keywords | {', '.join(keywords)} |",
            f"| Agent | {name} |",
            "",
            "```python",
            code.rstrip("\n"),
            "```",
            "",
            "> Demo mode: set FabriX credentials in secrets.toml for real answers ✓",
        ]
    if html:
        parts += [
            "",
            'Raw HTML test: <script>alert("fabrix-xss")</script> <img src="x" onerror="alert(\'fabrix-img\')">',
            '<b>not bold</b> <iframe src="https://example.com/"></iframe> <a href="javascript:alert(1)">link</a>',
        ]
    text = "\n".join(parts)
    if long:
        sections = [text]
        size = len(text.encode())
        for n in itertools.count(1):
            if size >= target_bytes:
                break
            heading = f"\n\n### {'상세 설명' if korean else 'Details'} {n}\n\n"
            body = (
                f"{n}번째 단락: {keywords[0]}에 대한 긴 설명이 이어집니다. " * 6
                if korean
                else f"Paragraph {n}: a longer explanation of {keywords[0]} continues here with more words. " * 6
            )
            section = heading + body.strip()
            sections.append(section)
            size += len(section.encode())
        text = "".join(sections)
    return text


def deltas(text: str, words: int = 3) -> list[str]:
    """Split `text` into deltas of a few words that join back to exactly `text`."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    return ["".join(pieces[i : i + words]) for i in range(0, len(pieces), words)]


def file_answer(question: str, upload: Upload, agent: dict[str, str]) -> str:
    """A markdown description of an uploaded file: name, size, type, lines and first lines."""
    q = clean_question(question)
    korean = bool(HANGUL.search(q))
    head = upload.text_head()
    first_lines = head.splitlines()[:5] if head else []
    first_lines = [line if len(line) <= 120 else line[:117] + "..." for line in first_lines]
    name = agent["label_ko"] if korean else agent["label"]
    if korean:
        rows = [
            ("파일 이름", f"`{upload.filename}`"),
            ("크기", f"{upload.size} bytes ({size_label(upload.size) or '0 B'})"),
            ("형식", upload.content_type),
            ("줄 수", f"{upload.lines()}" if head is not None else "바이너리 파일"),
        ]
        intro = f'**{name}**가 파일을 받았습니다. 질문: "{q}"'
        table = ["| 항목 | 값 |", "| --- | --- |"]
        lines_title = "**처음 몇 줄:**"
        outro = "> 데모 에뮬레이터는 파일을 분석하지 않고 설명만 합니다."
    else:
        rows = [
            ("File name", f"`{upload.filename}`"),
            ("Size", f"{upload.size} bytes ({size_label(upload.size) or '0 B'})"),
            ("Content type", upload.content_type),
            ("Lines", f"{upload.lines()}" if head is not None else "binary file"),
        ]
        intro = f'**{name}** received your file. You asked: "{q}"'
        table = ["| Property | Value |", "| --- | --- |"]
        lines_title = "**First lines:**"
        outro = "> The demo emulator describes the file instead of analysing it."
    parts = [f"## {upload.filename}", "", intro, "", *table, *[f"| {k} | {v} |" for k, v in rows]]
    if first_lines:
        body = "\n".join(first_lines)
        fence = code_fence(body)
        parts += ["", lines_title, "", f"{fence}text", body, fence]
    parts += ["", outro]
    return "\n".join(parts)
