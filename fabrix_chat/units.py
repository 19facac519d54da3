"""Byte sizes for people, the one helper every page and the emulator use."""

from __future__ import annotations


def size_label(size: int) -> str:
    """812 -> "812 B", 1536 -> "1.5 KB", 3145728 -> "3.0 MB"; 0 (no size) -> ""."""
    if not size:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
