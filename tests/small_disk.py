"""A small disk for the disk-full tests: a size-limited tmpfs mounted on an empty folder.

    with small_disk(path, size_mb=64) as disk:   # skips (SmallDiskUnavailable) when mounting is not allowed
        disk.fill(leave_mb=2)                      # a filler file takes all but the last 2 MB
        disk.free_space()                          # the filler goes

Mounting needs root (or CAP_SYS_ADMIN); a container without it cannot run these tests, which then
say so instead of failing. Linux only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

MB = 1024 * 1024
FILLER = ".filler"


class SmallDiskUnavailable(RuntimeError):
    """No size-limited folder can be made here (not Linux, not root, or mount refused)."""


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path

    def free_mb(self) -> float:
        return shutil.disk_usage(self.path).free / MB

    def fill(self, leave_mb: float = 2.0) -> None:
        """Write a filler file until only `leave_mb` are free (the data disk at its last few MB)."""
        filler = self.path / FILLER
        with open(filler, "ab") as out:
            block = b"\0" * MB
            while (free := shutil.disk_usage(self.path).free) > leave_mb * MB + MB:
                out.write(block[: min(MB, int(free - leave_mb * MB))])
                out.flush()
            os.fsync(out.fileno())

    def fill_completely(self) -> None:
        """Not one byte left: the filler takes everything, down to the last block."""
        filler = self.path / FILLER
        # Unbuffered: the write that finds no room raises here, and closing has nothing left to write.
        with open(filler, "ab", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 4096)

    def free_space(self) -> None:
        (self.path / FILLER).unlink(missing_ok=True)


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int = 64) -> Iterator[SmallDisk]:
    """Mount a tmpfs of `size_mb` on `path` (created empty); unmount it on the way out."""
    if os.name != "posix" or not shutil.which("mount"):
        raise SmallDiskUnavailable("a size-limited folder needs Linux's mount")
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise SmallDiskUnavailable(f"{path} is not empty")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SmallDiskUnavailable(
            f"mounting a {size_mb} MB tmpfs was refused ({result.stderr.strip() or result.returncode}); "
            "the disk-full tests need root (or CAP_SYS_ADMIN)"
        )
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
