"""Per-browser UI preferences: language and sidebar. No data, no user checks needed."""

from __future__ import annotations

import reflex as rx

from fabrix_chat import i18n


class UIState(rx.State):
    lang: str = rx.LocalStorage("en", name="fabrix_lang", sync=True)
    sidebar_open: bool = True

    @rx.var
    def strings(self) -> dict[str, str]:
        return i18n.table(self.lang)

    @rx.event
    def set_lang(self, lang: str):
        if lang in i18n.LANGUAGES:
            self.lang = lang

    @rx.event
    def toggle_sidebar(self):
        self.sidebar_open = not self.sidebar_open

    @rx.event
    def init_layout(self, narrow: bool):
        """On first paint: the sidebar starts closed on tablets and phones."""
        if narrow:
            self.sidebar_open = False

    @rx.event
    def close_sidebar(self):
        self.sidebar_open = False


def tr(key: str) -> rx.Var[str]:
    """The UI string `key` in the browser's language, as a Var for components."""
    if key not in i18n.STRINGS:
        raise KeyError(key)
    return UIState.strings[key].to(str)
