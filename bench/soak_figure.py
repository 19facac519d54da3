"""bench_soak.py's figure: the run's samples as six SVG charts on one page, rendered to PNG by the
browser tests' Chromium (no plotting library is installed, and none is needed).

Drawn again from a results file: `.venv/bin/python bench/soak_figure.py bench/results/soak.json`
(writes soak.png beside it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minute, value) points, per hour."""
    points = [(x, y) for x, y in points if y is not None]
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx * 60


def _panel(x0: float, y0: float, w: float, h: float, title: str, series, marks, fit=None) -> str:
    """One small SVG chart: `series` = [(label, colour, [(minute, value)])]."""
    values = [v for _, _, pts in series for _, v in pts if v is not None]
    minutes = [m for _, _, pts in series for m, _ in pts]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad
    xmax = max(minutes) if minutes else 1.0
    xmax = xmax if xmax > 0 else 1.0

    def sx(m: float) -> float:
        return x0 + 50 + (w - 60) * m / xmax

    def sy(v: float) -> float:
        return y0 + 25 + (h - 50) * (1 - (v - lo) / (hi - lo))

    out = [
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#fff" stroke="#ccc"/>',
        f'<text x="{x0 + 8}" y="{y0 + 16}" font-size="13" font-weight="bold">{title}</text>',
        f'<line x1="{sx(0)}" y1="{sy(lo)}" x2="{sx(xmax)}" y2="{sy(lo)}" stroke="#999"/>',
        f'<text x="{x0 + 4}" y="{sy(hi - pad) + 4}" font-size="10" fill="#555">{hi - pad:.4g}</text>',
        f'<text x="{x0 + 4}" y="{sy(lo + pad) + 4}" font-size="10" fill="#555">{lo + pad:.4g}</text>',
        f'<text x="{sx(xmax) - 40}" y="{y0 + h - 6}" font-size="10" fill="#555">{xmax:.0f} min</text>',
    ]
    for m in marks:
        out.append(
            f'<line x1="{sx(m)}" y1="{y0 + 22}" x2="{sx(m)}" y2="{y0 + h - 25}" stroke="#e0c080" '
            'stroke-dasharray="3,3"/>'
        )
    for i, (label, colour, pts) in enumerate(series):
        pts = [(m, v) for m, v in pts if v is not None]
        if pts:
            path = " ".join(f"{sx(m):.1f},{sy(v):.1f}" for m, v in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        if len(series) > 1:
            legend_y = y0 + h - 32 - 12 * (len(series) - 1 - i)  # bottom right, clear of the title
            out.append(f'<text x="{x0 + w - 110}" y="{legend_y}" font-size="11" fill="{colour}">{label}</text>')
    if fit is not None:
        (m1, v1), (m2, v2), text = fit
        out.append(
            f'<line x1="{sx(m1):.1f}" y1="{sy(v1):.1f}" x2="{sx(m2):.1f}" y2="{sy(v2):.1f}" '
            'stroke="#d33" stroke-width="1.5" stroke-dasharray="6,3"/>'
        )
        out.append(f'<text x="{x0 + 8}" y="{y0 + h - 8}" font-size="11" fill="#d33">{text}</text>')
    return "\n".join(out)


def figure_html(result: dict[str, Any]) -> str:
    """The run's samples as six SVG charts on one page (rendered to PNG by Chromium)."""
    samples = result["samples"]
    window_start = result["window"]["from_minute"]
    marks = [b["minute"] for b in result["backups"]]

    def pts(key: str) -> list[tuple[float, float]]:
        return [(s["minute"], s[key]) for s in samples if s.get(key) is not None]

    def fit(key: str, unit: str):
        window = [(s["minute"], s[key]) for s in samples if s["minute"] >= window_start and not s.get("after")]
        window = [(m, v) for m, v in window if v is not None]
        slope = slope_per_hour(window)
        if slope is None:
            return None
        mx = sum(m for m, _ in window) / len(window)
        my = sum(v for _, v in window) / len(window)
        m1, m2 = window[0][0], window[-1][0]
        return (
            (m1, my + slope / 60 * (m1 - mx)),
            (m2, my + slope / 60 * (m2 - mx)),
            f"{slope:+.2f} {unit}/hour over the last {result['window']['minutes']:g} min",
        )

    db = pts("db_mb")
    w, h = 560, 230
    panels = [
        ("Back-end RSS (MB)", [("worker", "#1f5fbf", pts("rss_mb"))], fit("rss_mb", "MB")),
        ("Open file descriptors", [("worker", "#1f5fbf", pts("fds"))], fit("fds", "fds")),
        ("asyncio tasks", [("worker", "#2a8a3a", pts("tasks"))], fit("tasks", "tasks")),
        ("Threads", [("worker", "#7a3fb0", pts("threads"))], fit("threads", "threads")),
        ("Reflex states held", [("states", "#b0603f", pts("states"))], None),
        (
            f"WAL, uploads, tab state files (MB); database {db[0][1]:g} → {db[-1][1]:g} MB" if db else "Files (MB)",
            [
                ("WAL", "#d33", pts("wal_mb")),
                ("uploads", "#2a8a3a", pts("uploads_mb")),
                ("tab state files", "#1f5fbf", pts("state_files_mb")),
            ],
            None,
        ),
    ]
    body = [
        _panel(10 + (i % 2) * (w + 10), 50 + (i // 2) * (h + 10), w, h, title, series, marks, f)
        for i, (title, series, f) in enumerate(panels)
    ]
    t = result["targets"]
    title = (
        f"Soak: {result['users']} users, {result['minutes']:g} min, one action every ~{result['pace']:g} s per user; "
        f"{result['actions_total']} actions, {result['checks']['asks_saved']} answers; errors {t['zero_errors']['errors']}, "
        f"lost {t['zero_lost']['lost']}; backups (dashed) {t['backups_pass_check']['passed']}/{t['backups_pass_check']['backups']}"
    )
    width, height = 2 * w + 30, 60 + 3 * (h + 10)
    return (
        f'<html><body style="margin:0;background:#f4f4f4;font-family:sans-serif">'
        f'<svg id="figure" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<text x="12" y="22" font-size="14">{title}</text>'
        f'<text x="12" y="40" font-size="11" fill="#555">{result["machine"]["date"]}, {result["machine"]["cores"]} cores; '
        f"x axis: minutes since the first sign-in</text>" + "\n".join(body) + "</svg></body></html>"
    )


def render_png(result: dict[str, Any], path: Path, browser=None) -> Path:
    """Screenshot of figure_html in Chromium (the browser tests' /usr/bin/chromium); `browser`: a
    Playwright browser already open (the test's), else one is launched here."""
    html = figure_html(result)
    if browser is None:
        from playwright.sync_api import sync_playwright

        from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

        with sync_playwright() as pw:
            launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                return render_png(result, path, launched)
            finally:
                launched.close()
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        page.set_content(html)
        page.locator("#figure").screenshot(path=str(path))
    finally:
        page.close()
    return path


if __name__ == "__main__":
    for name in sys.argv[1:]:
        source = Path(name)
        print(render_png(json.loads(source.read_text(encoding="utf-8")), source.with_suffix(".png")))
