"""Attached files: the allow-list, the size limit, and private storage while a file is asked about.

A file is written chunk by chunk into data_dir/uploads/<user_id>/ (never Reflex's public upload
folder, which is served at /_upload), its size checked while it is written, then sent to FabriX
from disk. Files are temporary: deleted once their answer is complete (kept after a failed or
stopped answer so Retry can send them again), and anything left behind is swept after a day.
No Reflex here, so all of it is tested directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import secrets
import shutil
import threading
import time
import unicodedata
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Protocol

from fabrix_chat import outages
from fabrix_chat.config import Settings, get_settings

log = logging.getLogger(__name__)

ALLOWED_EXTENSIONS: tuple[str, ...] = (
    ".txt",
    ".csv",
    ".json",
    ".xml",
    ".py",
    ".js",
    ".java",
    ".cpp",
    ".c",
    ".html",
    ".css",
    ".pdf",
    ".md",
    ".xlsx",
)
# What FabriX is told each type is (the browser's guess is not trusted).
CONTENT_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".xml": "application/xml",
    ".py": "text/x-python",
    ".js": "text/javascript",
    ".java": "text/x-java-source",
    ".cpp": "text/x-c++src",
    ".c": "text/x-csrc",
    ".html": "text/html",
    ".css": "text/css",
    ".pdf": "application/pdf",
    ".md": "text/markdown",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# react-dropzone accepts a file when its MIME type OR its extension is listed. Browsers guess MIME
# types loosely (a .log is text/plain), so list the extensions under a type no real file has.
_EXTENSIONS_ONLY_TYPE = "application/x-fabrix-allowed"
STALE_SECONDS = 24 * 3600
MAX_NAME_CHARS = 255


class UploadRejected(Exception):
    """The file cannot be taken: `reason` is "type", "size", "empty", "count", "busy" (another
    upload of the same user is arriving), "user_quota", "total_quota" or "disk_full"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Chunk(Protocol):
    """One piece of an upload (Reflex's UploadChunk has these fields)."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file kept privately until it has been asked about."""

    path: str
    name: str
    size: int
    content_type: str


def display_name(filename: str) -> str:
    """The file's own name (no folders), without control characters, at most 255 characters."""
    name = PureWindowsPath(PurePosixPath(filename.replace("\\", "/")).name).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > MAX_NAME_CHARS:
        stem, ext = os.path.splitext(name)
        name = stem[: MAX_NAME_CHARS - len(ext)] + ext
    return name or "file"


def extension(filename: str) -> str:
    return os.path.splitext(display_name(filename))[1].lower()


def is_allowed(filename: str) -> bool:
    return extension(filename) in ALLOWED_EXTENSIONS


def content_type(filename: str) -> str:
    ext = extension(filename)
    return CONTENT_TYPES.get(ext) or mimetypes.guess_type(f"x{ext}")[0] or "application/octet-stream"


def accept_map() -> dict[str, list[str]]:
    """The `accept` prop of the file chooser: exactly the allow-list."""
    return {_EXTENSIONS_ONLY_TYPE: list(ALLOWED_EXTENSIONS)}


def allowed_text() -> str:
    return " ".join(ALLOWED_EXTENSIONS)


def uploads_root(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).data_path / "uploads"


def user_dir(user_id: int, settings: Settings | None = None) -> Path:
    """data_dir/uploads/<user_id>/, created readable by the app's own account only."""
    folder = uploads_root(settings) / str(int(user_id))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def is_private_file(path: str | Path, settings: Settings | None = None) -> bool:
    """True when `path` lies inside the private uploads folder (so it may be read or deleted)."""
    try:
        Path(path).resolve().relative_to(uploads_root(settings).resolve())
    except ValueError:
        return False
    return True


def belongs_to(path: str | Path, user_id: int, settings: Settings | None = None) -> bool:
    """True when `path` is in this user's own upload folder: a file is only ever sent for its owner."""
    try:
        Path(path).resolve().relative_to((uploads_root(settings) / str(int(user_id))).resolve())
    except ValueError:
        return False
    return True


def is_kept(path: str | Path) -> bool:
    """True when a stored file is still there (and is one of ours)."""
    return is_private_file(path) and Path(path).is_file()


def delete_file(path: str | Path) -> None:
    """Delete a stored file; anything outside the uploads folder is refused."""
    if not is_private_file(path):
        log.warning("refused to delete %s: not in the uploads folder", path)
        return
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()


def sweep_stale(
    user_id: int, max_age: float = STALE_SECONDS, now: float | None = None, settings: Settings | None = None
) -> int:
    """Delete the user's stored files older than `max_age` seconds (left by a closed tab or a crash)."""
    now = time.time() if now is None else now
    removed = 0
    for path in user_dir(user_id, settings).iterdir():
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def folder_bytes(folder: Path) -> int:
    """The size of every file under `folder` (0 when it does not exist)."""
    total = 0
    for path in folder.rglob("*") if folder.exists() else ():
        with contextlib.suppress(OSError):
            if path.is_file():
                total += path.stat().st_size
    return total


# Uploads being written in this process: one per user at a time (so a user's quota holds even
# when sixty arrive at once), and their bytes so far, which the total quota counts as used.
_WRITING: dict[int, FileWriter] = {}
_WRITING_LOCK = threading.Lock()
MB = 1024 * 1024
FREE_DISK_CHECK_BYTES = 4 * MB


@contextlib.contextmanager
def _full_disk_refused() -> Iterator[None]:
    """A write the disk has no room for (the free-space check runs every few MB, and other
    programs write too) is the plain "disk full" refusal, not an unexplained failure."""
    try:
        yield
    except OSError as exc:
        if exc.errno in outages.DISK_FULL_ERRNOS:
            raise UploadRejected("disk_full") from exc
        raise


class FileWriter:
    """Writes one upload into the user's private folder, refusing it as soon as it breaks a limit:
    the file size, the user's and the site's upload quotas, or the free disk space to keep."""

    def __init__(self, user_id: int, filename: str, limit: int, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        if not is_allowed(filename):
            raise UploadRejected("type")
        with _WRITING_LOCK:
            if user_id in _WRITING:
                raise UploadRejected("busy")
            _WRITING[user_id] = self
        try:
            self.user_id = user_id
            self.name = display_name(filename)
            self.limit = limit
            self.size = 0
            self._root = uploads_root(settings)
            self._user_room = settings.upload.user_quota_mb * MB - folder_bytes(user_dir(user_id, settings))
            self._total_used = folder_bytes(self._root)
            self._total_quota = settings.upload.total_quota_mb * MB
            self._min_free = settings.upload.min_free_mb * MB
            self._checked_free_at = -FREE_DISK_CHECK_BYTES
            self._check_room(1)  # a full quota or disk is said before anything is written
            # A random file name: the user's own name never becomes a path on this machine.
            self.path = user_dir(user_id, settings) / f"{secrets.token_hex(16)}{extension(filename)}"
            self._file = open(self.path, "xb")  # noqa: SIM115 (closed by finish or abort)
        except BaseException:
            self._release()
            raise

    def _check_room(self, incoming: int) -> None:
        after = self.size + incoming
        if after > self.limit:
            raise UploadRejected("size")
        if after > self._user_room:
            raise UploadRejected("user_quota")
        with _WRITING_LOCK:
            others = sum(w.size for w in _WRITING.values() if w is not self)
        if self._total_used + others + after > self._total_quota:
            raise UploadRejected("total_quota")
        if after - self._checked_free_at >= FREE_DISK_CHECK_BYTES:
            self._checked_free_at = after
            if shutil.disk_usage(self._root).free - incoming < self._min_free:
                raise UploadRejected("disk_full")

    def write(self, data: bytes) -> None:
        self._check_room(len(data))
        with _full_disk_refused():
            self._file.write(data)
        self.size += len(data)

    def finish(self) -> StoredFile:
        with _full_disk_refused():
            self._file.close()  # writes what is still buffered
        self._release()
        if self.size == 0:
            self.abort()
            raise UploadRejected("empty")
        return StoredFile(path=str(self.path), name=self.name, size=self.size, content_type=content_type(self.name))

    def abort(self) -> None:
        """Close and delete the partial file."""
        self._release()
        with contextlib.suppress(OSError, AttributeError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError, AttributeError):
            self.path.unlink()

    def _release(self) -> None:
        with _WRITING_LOCK:
            if _WRITING.get(self.user_id) is self:
                del _WRITING[self.user_id]


def delete_user_files(user_id: int, settings: Settings | None = None) -> int:
    """Remove a deleted user's upload folder with everything in it; returns the files removed."""
    folder = uploads_root(settings) / str(int(user_id))
    if not folder.exists():
        return 0
    count = sum(1 for path in folder.rglob("*") if path.is_file())
    shutil.rmtree(folder)
    return count


def sweep_all_stale(max_age: float = STALE_SECONDS, settings: Settings | None = None) -> int:
    """Every user's stored files older than `max_age` (a closed tab, a crash): the scheduled sweep."""
    root = uploads_root(settings)
    removed = 0
    for folder in root.iterdir() if root.exists() else ():
        if folder.is_dir() and folder.name.isdigit():
            removed += sweep_stale(int(folder.name), max_age, settings=settings)
    return removed


async def store_upload(chunks: AsyncIterable[Chunk], *, user_id: int, limit: int) -> StoredFile:
    """Write an upload's chunks to the user's private folder; UploadRejected when it breaks a rule.

    The size is checked as the bytes arrive, so an oversized upload is cut off at the limit
    whatever the browser claimed. Nothing is left on disk unless the file is accepted.
    """
    writer: FileWriter | None = None
    first_name = ""
    try:
        await asyncio.to_thread(sweep_stale, user_id)
        async for chunk in chunks:
            if writer is None:
                first_name = chunk.filename
                # Shielded: if the upload is cancelled while the writer is being made (in its
                # thread), it still gets made, and is then aborted below instead of left open.
                making = asyncio.ensure_future(asyncio.to_thread(FileWriter, user_id, chunk.filename, limit))
                try:
                    writer = await asyncio.shield(making)
                except asyncio.CancelledError:
                    with contextlib.suppress(Exception):
                        (await making).abort()
                    raise
            elif chunk.filename != first_name:
                raise UploadRejected("count")
            if chunk.data:
                await asyncio.to_thread(writer.write, chunk.data)
        if writer is None:
            raise UploadRejected("empty")
        return await asyncio.to_thread(writer.finish)
    except BaseException:
        # Also when the browser goes away mid-upload (the task is cancelled): no partial files.
        if writer is not None:
            writer.abort()
        raise
