"""Contrast of the design tokens in assets/styles.css: every text colour on every background it
is used on reaches WCAG AA (4.5:1), in the light and in the dark theme."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "assets" / "styles.css").read_text(encoding="utf-8")

# (text token, background token) pairs as the stylesheet uses them.
PAIRS = [
    ("--text", "--bg"),
    ("--text", "--bg-sidebar"),
    ("--text", "--bg-hover"),
    ("--text", "--bg-hover-strong"),
    ("--text", "--bg-selected"),
    ("--text", "--bubble-user"),
    ("--text", "--bubble-bot"),
    ("--text", "--composer-bg"),
    ("--text", "--notice-bg"),
    ("--text-2", "--bg"),
    ("--text-2", "--bg-sidebar"),
    ("--text-2", "--bubble-bot"),
    ("--text-2-on-tint", "--composer-bg"),  # the composer placeholder
    ("--text-2-on-tint", "--bg-hover"),
    ("--text-2-on-tint", "--bg-selected"),
    ("--text-2-on-tint", "--bubble-user"),
    ("--text-2-on-tint", "--bg"),
    ("--link", "--bg"),
    ("--link", "--bg-sidebar"),
    ("--link", "--bubble-bot"),  # links in answers
    ("--on-primary", "--primary"),
    ("--on-primary", "--primary-hover"),
    ("--error-text", "--error-bg"),
    ("--error-text", "--bg"),
]


def block(selector: str) -> dict[str, str]:
    """The custom properties of the first rule whose selector is exactly `selector`."""
    match = re.search(r"(?m)^" + re.escape(selector) + r"\s*\{([^}]*)\}", CSS)
    assert match, f"no {selector} rule in styles.css"
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", match.group(1)))


def tokens(theme: str) -> dict[str, str]:
    values = block(":root")
    if theme == "dark":
        values = {**values, **block(".dark")}
    return values


def luminance(hex_colour: str) -> float:
    hex_colour = hex_colour.strip().lstrip("#")
    assert re.fullmatch(r"[0-9a-fA-F]{6}", hex_colour), hex_colour
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_contrast_is_at_least_4_5(theme, text, background):
    values = tokens(theme)
    ratio = contrast(values[text], values[background])
    assert ratio >= 4.5, f"{theme}: {text} {values[text]} on {background} {values[background]} is {ratio:.2f}:1"


def code_tokens(theme: str) -> dict[str, str]:
    """The highlighted-code palette: every --code-* colour but the background."""
    return {name: value for name, value in tokens(theme).items() if name.startswith("--code-") and name != "--code-bg"}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_code_token_colour_reaches_4_5_on_the_code_background(theme):
    values = tokens(theme)
    palette = code_tokens(theme)
    assert {"--code-text", "--code-comment", "--code-keyword", "--code-string"} <= palette.keys()
    low = {
        name: round(contrast(colour, values["--code-bg"]), 2)
        for name, colour in palette.items()
        if contrast(colour, values["--code-bg"]) < 4.5
    }
    assert not low, f"{theme}: below 4.5:1 on --code-bg {values['--code-bg']}: {low}"


def test_the_dark_theme_has_its_own_code_palette():
    light_block, dark_block = block(":root"), block(".dark")
    names = {name for name in light_block if name.startswith("--code-")}
    assert names == {name for name in dark_block if name.startswith("--code-")}


def test_code_highlighting_takes_its_colours_from_the_palette():
    """Token rules use only the checked --code-* colours, never a literal one."""
    rules = re.findall(r"(?m)^\.code-block[^{]*\{([^}]*)\}", CSS)
    assert len(rules) >= 8
    colours = re.findall(r"(?:^|;)\s*(?:color|background)\s*:\s*([^;]+)", "".join(rule + ";" for rule in rules))
    assert colours and all(re.fullmatch(r"var\(--code-[\w-]+\)", c.strip()) for c in colours), colours


def test_white_text_on_danger_buttons():
    for theme in ("light", "dark"):
        values = tokens(theme)
        assert contrast("#ffffff", values["--danger"]) >= 4.5
        assert contrast("#ffffff", values["--danger-hover"]) >= 4.5


def test_design_tokens_of_the_product_are_kept():
    light, dark = tokens("light"), tokens("dark")
    assert (light["--bg"], light["--bg-sidebar"], light["--bg-hover"]) == ("#ffffff", "#f7f9fc", "#e8eef5")
    assert (light["--text"], light["--text-2"], light["--text-disabled"]) == ("#1e293b", "#64748b", "#94a3b8")
    assert (light["--primary"], light["--primary-hover"], light["--accent"]) == ("#2563eb", "#1d4ed8", "#8b5cf6")
    assert (light["--success"], light["--warning"], light["--error"]) == ("#10b981", "#f59e0b", "#ef4444")
    assert (dark["--bg"], dark["--bg-sidebar"], dark["--bg-hover"]) == ("#0f172a", "#1e293b", "#334155")
    assert (dark["--text"], dark["--text-2"]) == ("#f1f5f9", "#cbd5e1")
    assert light["--sidebar-width"] == "280px" and light["--rail-width"] == "56px"
    assert light["--ease"] == "cubic-bezier(0.25, 0.1, 0.25, 1)"


def test_reduced_motion_turns_animation_off():
    match = re.search(r"@media \(prefers-reduced-motion: reduce\)\s*\{(.*?)\n\}", CSS, re.S)
    assert match and "animation: none !important" in match.group(1) and "transition: none !important" in match.group(1)
