"""The one catalogue of shown text (fabrix_chat/i18n.py): complete in both languages, every key
used, and no shown text written anywhere else."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from fabrix_chat import i18n

PACKAGE = Path(i18n.__file__).resolve().parent
ROOT = PACKAGE.parent


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_english_and_korean_have_every_key_with_the_same_placeholders() -> None:
    for key, (english, korean) in i18n.STRINGS.items():
        assert english.strip() and korean.strip(), key
        assert placeholders(english) == placeholders(korean), key


def code_outside_the_catalogue() -> str:
    sources = [p for p in PACKAGE.rglob("*.py") if p.name != "i18n.py"]
    sources += list((ROOT / "assets").glob("*.js"))
    return "\n".join(p.read_text(encoding="utf-8") for p in sources)


def test_every_key_is_used_somewhere() -> None:
    code = code_outside_the_catalogue()
    unused = [key for key in i18n.STRINGS if f'"{key}"' not in code and f"'{key}'" not in code]
    assert unused == []


# Components pass shown text as children or as these props; a literal there that is not a CSS
# class, an icon name or the like would be text that only one language has.
SHOWN_PROPS = {"placeholder", "aria_label", "title", "alt", "label"}
NOT_TEXT = re.compile(r"^[\s\W\d]*$|^[a-z0-9_-]+$")  # punctuation, numbers, identifiers/icon names


def literal_text_in_components() -> list[str]:
    found = []
    for path in [*(PACKAGE / "components").rglob("*.py"), *(PACKAGE / "pages").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if not (name.startswith(("rx.el.", "rx.text", "rx.heading")) or name in ("rx.button", "rx.link")):
                continue
            texts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            texts += [
                k.value.value
                for k in node.keywords
                if k.arg in SHOWN_PROPS and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)
            ]
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {t!r}" for t in texts if not NOT_TEXT.match(t)]
    return found


def test_no_shown_text_is_written_outside_the_catalogue() -> None:
    assert literal_text_in_components() == []
