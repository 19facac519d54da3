"""Seed the benchmark database: 100 users, 10,000 conversations, 100,000 messages.

    .venv/bin/python bench/seed.py            # about 15 s; writes /tmp/fabrix-bench/seed/

A fresh SQLite file is migrated with `python -m fabrix_chat.manage migrate` (FABRIX_CHAT_SECRETS
pointing at a bench secrets.toml), then filled with SQLAlchemy core bulk inserts. The other
benchmarks copy this file into their own data folder, so a run never changes the seed.

Shape: users bench000..bench099 (password "bench-password-1", one bcrypt hash at the app's 12
rounds, shared so seeding does not spend 25 s hashing), 100 conversations each. Every user's most
recent conversation has 500 messages (the one bench_app_ops opens); the other 99 have 5 or 6, so
the total is exactly 100,000. Messages alternate question/answer, answers are a few hundred
characters of markdown, and activity times are spread over the last 120 days.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PASSWORD, ROOT, SEED_DIR, USERS, username  # noqa: E402

CONVERSATIONS_PER_USER = 100
MESSAGES = 100_000
BIG_CONVERSATION = 500
BATCH = 5000

QUESTIONS = [
    "How do I write a status report for the weekly meeting?",
    "Summarise the attached release notes in three bullet points.",
    "What is the difference between a process and a thread?",
    "Draft a polite reply declining the vendor's proposal.",
    "Explain the quarterly budget variance to a non-finance reader.",
    "How can I speed up a slow SQL query with several joins?",
    "배포 일정 변경 공지를 작성해 주세요.",
    "Give me a checklist for onboarding a new team member.",
]


def answer_text(rng: random.Random, n: int) -> str:
    points = "\n".join(
        f"{i}. Step {i}: {rng.choice(['check', 'write', 'share', 'review'])} the item." for i in range(4)
    )
    return (
        f"## Answer {n}\n\nHere is a short overview of the topic, with the main points first.\n\n{points}\n\n"
        "| Aspect | Notes |\n| --- | --- |\n| Scope | One team |\n| Owner | The requester |\n\n"
        "```python\nprint('example')\n```\n"
    )


def write_secrets(data_dir: Path) -> Path:
    secrets = data_dir / "secrets.toml"
    secrets.write_text(f'[server]\ndata_dir = "{data_dir.as_posix()}"\n', encoding="utf-8")
    return secrets


def seed(data_dir: Path) -> dict[str, int]:
    """Migrate a fresh database in data_dir and fill it; returns the row counts."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    secrets = write_secrets(data_dir)
    env = {**os.environ, "FABRIX_CHAT_SECRETS": str(secrets)}
    subprocess.run([sys.executable, "-m", "fabrix_chat.manage", "migrate"], cwd=ROOT, env=env, check=True)
    os.environ["FABRIX_CHAT_SECRETS"] = str(secrets)

    import bcrypt
    from sqlalchemy import func, insert, select

    from fabrix_chat.db import make_engine
    from fabrix_chat.models import Conversation, Message, User
    from fabrix_chat.services.auth import BCRYPT_ROUNDS

    rng = random.Random(20240611)
    now = datetime.now(UTC)
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
    engine = make_engine(f"sqlite:///{(data_dir / 'fabrix_chat.db').as_posix()}")
    users_t, conv_t, msg_t = User.__table__, Conversation.__table__, Message.__table__

    small = USERS * (CONVERSATIONS_PER_USER - 1)
    rest = MESSAGES - USERS * BIG_CONVERSATION
    # 5 messages each, and one more for the first `extra` small conversations, so the sum is exact.
    per_small, extra = divmod(rest, small)

    with engine.begin() as conn:
        conn.execute(
            insert(users_t),
            [
                {
                    "id": n + 1,
                    "username": username(n),
                    "email": f"{username(n)}@bench.example",
                    "password_hash": password_hash,
                    "is_admin": n == 0,
                    "is_active": True,
                    "created_at": now - timedelta(days=200),
                    "last_login_at": None,
                }
                for n in range(USERS)
            ],
        )
        conversations, sizes = [], {}
        cid = 0
        small_index = 0
        for n in range(USERS):
            for k in range(CONVERSATIONS_PER_USER):
                cid += 1
                if k == 0:
                    size, updated = BIG_CONVERSATION, now - timedelta(minutes=rng.randint(1, 60))
                else:
                    size = per_small + (1 if small_index < extra else 0)
                    small_index += 1
                    updated = now - timedelta(minutes=rng.randint(61, 120 * 24 * 60))
                sizes[cid] = (size, updated)
                conversations.append(
                    {
                        "id": cid,
                        "user_id": n + 1,
                        "title": f"{QUESTIONS[cid % len(QUESTIONS)][:28]} #{cid}",
                        "agent_id": "520e8dd8-3b9c-4f1e-8a6d-1c2b3d4e5f60",
                        "created_at": updated - timedelta(hours=1),
                        "updated_at": updated,
                    }
                )
        conn.execute(insert(conv_t), conversations)
        batch: list[dict] = []
        for cid, (size, updated) in sizes.items():
            start = updated - timedelta(seconds=30 * size)
            for seq in range(size):
                user_turn = seq % 2 == 0
                when = start + timedelta(seconds=30 * seq)
                batch.append(
                    {
                        "conversation_id": cid,
                        "seq": seq,
                        "role": "user" if user_turn else "assistant",
                        "content": QUESTIONS[(cid + seq) % len(QUESTIONS)] if user_turn else answer_text(rng, seq),
                        "status": "complete",
                        "error": "",
                        "attachment_name": "",
                        "attachment_size": 0,
                        "created_at": when,
                        "updated_at": when,
                    }
                )
                if len(batch) >= BATCH:
                    conn.execute(insert(msg_t), batch)
                    batch = []
        if batch:
            conn.execute(insert(msg_t), batch)
        counts = {
            "users": conn.execute(select(func.count()).select_from(users_t)).scalar_one(),
            "conversations": conn.execute(select(func.count()).select_from(conv_t)).scalar_one(),
            "messages": conn.execute(select(func.count()).select_from(msg_t)).scalar_one(),
        }
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="Seed the benchmark database.")
    parser.add_argument("--data-dir", type=Path, default=SEED_DIR)
    args = parser.parse_args()
    started = time.monotonic()
    counts = seed(args.data_dir)
    size_mb = (args.data_dir / "fabrix_chat.db").stat().st_size / 1e6
    print(
        f"seeded {counts} into {args.data_dir / 'fabrix_chat.db'} ({size_mb:.0f} MB) in {time.monotonic() - started:.1f} s"
    )
    expected = {"users": USERS, "conversations": USERS * CONVERSATIONS_PER_USER, "messages": MESSAGES}
    if counts != expected:
        raise SystemExit(f"expected {expected}, got {counts}")


if __name__ == "__main__":
    main()
