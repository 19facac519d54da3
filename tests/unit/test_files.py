"""Attached files on the server: the allow-list, the size limit enforced while writing, and the
private folder (never Reflex's public upload folder)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fabrix_chat.config import get_settings
from fabrix_chat.services import files


class Chunk:
    def __init__(self, filename: str, data: bytes) -> None:
        self.filename = filename
        self.data = data


async def chunks_of(name: str, data: bytes, size: int = 4096, names: list[str] | None = None):
    for n, i in enumerate(range(0, max(len(data), 1), size)):
        yield Chunk(names[n % len(names)] if names else name, data[i : i + size])


def user_files(user_id: int) -> list[Path]:
    return sorted(files.user_dir(user_id).iterdir())


@pytest.fixture
def user_id() -> int:
    uid = int(time.time_ns() % 1_000_000_000)
    yield uid
    for path in files.user_dir(uid).iterdir():
        path.unlink()


@pytest.mark.asyncio
async def test_an_allowed_file_is_stored_privately_under_a_random_name(user_id):
    data = b"print('hello')\n" * 100
    stored = await files.store_upload(chunks_of("../../etc/report.py", data), user_id=user_id, limit=10_000)
    path = Path(stored.path)
    assert stored.name == "report.py" and stored.size == len(data) and stored.content_type == "text/x-python"
    assert path.read_bytes() == data  # noqa: ASYNC240 (a test reading back what was written)
    assert path.parent == get_settings().data_path / "uploads" / str(user_id)
    assert "report" not in path.name and path.suffix == ".py"
    assert files.is_private_file(path) and files.is_kept(path)
    if os.name != "nt":
        assert path.parent.stat().st_mode & 0o077 == 0  # only the app's own account can read it


@pytest.mark.asyncio
async def test_a_file_over_the_limit_is_cut_off_and_nothing_is_kept(user_id):
    with pytest.raises(files.UploadRejected) as refused:
        await files.store_upload(chunks_of("big.txt", b"x" * 50_000), user_id=user_id, limit=20_000)
    assert refused.value.reason == "size"
    assert user_files(user_id) == []


@pytest.mark.asyncio
async def test_the_size_is_checked_as_bytes_arrive_not_after(user_id):
    read: list[int] = []

    async def endless():
        while True:  # a client that never stops sending
            read.append(1)
            yield Chunk("huge.csv", b"y" * 1000)

    with pytest.raises(files.UploadRejected):
        await files.store_upload(endless(), user_id=user_id, limit=10_000)
    assert len(read) == 11
    assert user_files(user_id) == []


@pytest.mark.parametrize("name", ["tool.exe", "archive.zip", "image.png", "noextension", "report.pdf.exe", ".bashrc"])
@pytest.mark.asyncio
async def test_types_outside_the_allow_list_are_refused(user_id, name):
    with pytest.raises(files.UploadRejected) as refused:
        await files.store_upload(chunks_of(name, b"data"), user_id=user_id, limit=10_000)
    assert refused.value.reason == "type"
    assert user_files(user_id) == []


@pytest.mark.parametrize("name", ["a.TXT", "b.csv", "c.json", "d.xml", "e.js", "f.java", "g.cpp", "h.c", "i.html"])
def test_allowed_types_ignore_case(name):
    assert files.is_allowed(name)


@pytest.mark.asyncio
async def test_empty_files_and_second_files_are_refused(user_id):
    with pytest.raises(files.UploadRejected) as refused:
        await files.store_upload(chunks_of("empty.txt", b""), user_id=user_id, limit=10_000)
    assert refused.value.reason == "empty"
    with pytest.raises(files.UploadRejected) as refused:
        await files.store_upload(
            chunks_of("a.txt", b"z" * 9000, names=["a.txt", "b.txt"]), user_id=user_id, limit=100_000
        )
    assert refused.value.reason == "count"
    assert user_files(user_id) == []


@pytest.mark.asyncio
async def test_a_cancelled_upload_leaves_nothing_behind(user_id):
    import asyncio

    started = asyncio.Event()

    async def slow():
        yield Chunk("slow.txt", b"a" * 1000)
        started.set()
        await asyncio.sleep(3600)
        yield Chunk("slow.txt", b"b")

    task = asyncio.create_task(files.store_upload(slow(), user_id=user_id, limit=10_000))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert user_files(user_id) == []


def test_delete_refuses_paths_outside_the_uploads_folder(tmp_path, user_id):
    outside = tmp_path / "keep.txt"
    outside.write_text("keep me")
    files.delete_file(outside)
    assert outside.exists()
    inside = files.user_dir(user_id) / "old.txt"
    inside.write_text("x")
    files.delete_file(inside)
    assert not inside.exists()


def test_stale_files_are_swept_after_a_day(user_id):
    old = files.user_dir(user_id) / "old.txt"
    new = files.user_dir(user_id) / "new.txt"
    old.write_text("o")
    new.write_text("n")
    day_ago = time.time() - files.STALE_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    assert files.sweep_stale(user_id) == 1
    assert user_files(user_id) == [new]


def test_the_chooser_accepts_exactly_the_allow_list():
    accept = files.accept_map()
    assert sorted(ext for exts in accept.values() for ext in exts) == sorted(files.ALLOWED_EXTENSIONS)
    # No real MIME type as the key, so a loose browser guess cannot widen the list.
    assert all(not key.startswith(("text/", "image/")) and key != "application/octet-stream" for key in accept)


def test_sizes_read_like_people_say_them():
    assert files.size_label(0) == ""
    assert files.size_label(512) == "512 B"
    assert files.size_label(1536) == "1.5 KB"
    assert files.size_label(3 * 1024 * 1024) == "3.0 MB"


def test_display_names_drop_folders_and_control_characters():
    assert files.display_name("C:\\Users\\kim\\report.md") == "report.md"
    assert files.display_name("a/b/\x00evil\nname.txt") == "evilname.txt"
    assert len(files.display_name("x" * 300 + ".txt")) == 255
