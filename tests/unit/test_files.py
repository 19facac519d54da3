"""Attached files on the server: the allow-list, the size limit enforced while writing, and the
private folder (never Reflex's public upload folder)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from fabrix_chat.config import Settings, get_settings
from fabrix_chat.services import files
from fabrix_chat.units import size_label


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
    assert size_label(0) == ""
    assert size_label(512) == "512 B"
    assert size_label(1536) == "1.5 KB"
    assert size_label(3 * 1024 * 1024) == "3.0 MB"


def test_display_names_drop_folders_and_control_characters():
    assert files.display_name("C:\\Users\\kim\\report.md") == "report.md"
    assert files.display_name("a/b/\x00evil\nname.txt") == "evilname.txt"
    assert len(files.display_name("x" * 300 + ".txt")) == 255


def with_upload(tmp_path, **upload) -> Settings:
    """Settings whose uploads live in tmp_path, with these [upload] values (in MB)."""
    base = Settings()
    return base.model_copy(
        update={
            "server": base.server.model_copy(update={"data_dir": str(tmp_path)}),
            "upload": base.upload.model_copy(update=upload),
        }
    )


def write_file(settings: Settings, user: int, name: str, data: bytes) -> files.StoredFile:
    writer = files.FileWriter(user, name, limit=10**9, settings=settings)
    try:
        writer.write(data)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


MB = 1024 * 1024


def test_a_users_quota_counts_every_file_they_keep(tmp_path):
    settings = with_upload(tmp_path, max_mb=1, user_quota_mb=2, total_quota_mb=100, min_free_mb=0)
    write_file(settings, 1, "a.txt", b"x" * MB)
    write_file(settings, 1, "b.txt", b"x" * (MB - 10))
    with pytest.raises(files.UploadRejected) as refused:
        write_file(settings, 1, "c.txt", b"x" * 100)
    assert refused.value.reason == "user_quota"
    assert len(list((tmp_path / "uploads" / "1").iterdir())) == 2, "the refused file left nothing"
    write_file(settings, 2, "d.txt", b"x" * 100)  # another user has their own quota


def test_the_sites_quota_holds_while_several_users_upload_at_once(tmp_path):
    settings = with_upload(tmp_path, max_mb=1, user_quota_mb=1, total_quota_mb=2, min_free_mb=0)
    writers = [files.FileWriter(user, "x.txt", limit=MB, settings=settings) for user in (1, 2, 3)]
    writers[0].write(b"x" * MB)
    writers[1].write(b"x" * (MB - 1))
    with pytest.raises(files.UploadRejected) as refused:
        writers[2].write(b"x" * 2)
    assert refused.value.reason == "total_quota"
    for writer in writers:
        writer.abort()


def test_one_user_uploads_one_file_at_a_time(tmp_path):
    settings = with_upload(tmp_path, min_free_mb=0)
    first = files.FileWriter(7, "a.txt", limit=MB, settings=settings)
    with pytest.raises(files.UploadRejected) as refused:
        files.FileWriter(7, "b.txt", limit=MB, settings=settings)
    assert refused.value.reason == "busy"
    first.abort()
    files.FileWriter(7, "b.txt", limit=MB, settings=settings).abort()  # free again


async def test_sixty_uploads_at_once_from_one_user_keep_within_the_quota(tmp_path, monkeypatch):
    settings = with_upload(tmp_path, max_mb=1, user_quota_mb=1, total_quota_mb=100, min_free_mb=0)
    monkeypatch.setattr(files, "get_settings", lambda: settings)
    results = await asyncio.gather(
        *(files.store_upload(chunks_of("a.txt", b"x" * (MB // 2)), user_id=9, limit=MB) for _ in range(60)),
        return_exceptions=True,
    )
    kept = sum(1 for p in (tmp_path / "uploads" / "9").iterdir())
    assert kept <= 2 and sum(1 for r in results if isinstance(r, files.StoredFile)) == kept
    assert {r.reason for r in results if isinstance(r, files.UploadRejected)} <= {"busy", "user_quota"}


def test_an_almost_full_disk_refuses_before_writing(tmp_path, monkeypatch):
    settings = with_upload(tmp_path, min_free_mb=10)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda _p: usage._replace(free=5 * MB))
    with pytest.raises(files.UploadRejected) as refused:
        files.FileWriter(3, "a.txt", limit=MB, settings=settings)
    assert refused.value.reason == "disk_full"
    assert not any((tmp_path / "uploads" / "3").iterdir())


@pytest.mark.asyncio
async def test_a_disk_that_fills_up_during_the_upload_says_disk_full(tmp_path, monkeypatch):
    """The free-space check passed, then the disk filled (another program, or between checks):
    the write's "no space left" is the plain disk-full refusal, and the partial file goes."""
    import errno

    settings = with_upload(tmp_path, min_free_mb=0)
    monkeypatch.setattr(files, "get_settings", lambda: settings)
    real_open = open

    class FullDisk:
        def __init__(self, path, mode):
            self._file = real_open(path, mode)

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self._file.close()

    monkeypatch.setattr(files, "open", FullDisk, raising=False)
    with pytest.raises(files.UploadRejected) as refused:
        await files.store_upload(chunks_of("a.txt", b"x" * 10_000), user_id=3, limit=MB)
    assert refused.value.reason == "disk_full"
    assert not any((tmp_path / "uploads" / "3").iterdir())


def test_deleting_a_user_deletes_their_files(tmp_path):
    settings = with_upload(tmp_path, min_free_mb=0)
    write_file(settings, 4, "a.txt", b"abc")
    write_file(settings, 5, "b.txt", b"abc")
    assert files.delete_user_files(4, settings) == 1
    assert not (tmp_path / "uploads" / "4").exists() and (tmp_path / "uploads" / "5").exists()
    assert files.delete_user_files(4, settings) == 0


def test_the_scheduled_sweep_covers_every_user(tmp_path):
    settings = with_upload(tmp_path, min_free_mb=0)
    old = [write_file(settings, user, "a.txt", b"abc") for user in (11, 12)]
    fresh = write_file(settings, 13, "b.txt", b"abc")
    for stored in old:
        os.utime(stored.path, (time.time() - files.STALE_SECONDS - 60,) * 2)
    assert files.sweep_all_stale(settings=settings) == 2
    assert Path(fresh.path).exists() and not any(Path(s.path).exists() for s in old)


async def test_an_upload_cancelled_while_its_file_is_being_made_leaves_nothing_held(tmp_path, monkeypatch):
    settings = with_upload(tmp_path, min_free_mb=0)
    monkeypatch.setattr(files, "get_settings", lambda: settings)
    real = files.folder_bytes

    def slow_folder_bytes(folder):
        time.sleep(0.3)
        return real(folder)

    monkeypatch.setattr(files, "folder_bytes", slow_folder_bytes)
    task = asyncio.create_task(files.store_upload(chunks_of("a.txt", b"abc"), user_id=21, limit=MB))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 21 not in files._WRITING, "the user can upload again"
    assert not any((tmp_path / "uploads" / "21").iterdir())
    monkeypatch.setattr(files, "folder_bytes", real)
    stored = await files.store_upload(chunks_of("b.txt", b"abc"), user_id=21, limit=MB)
    assert stored.size == 3
