"""Per-browser UI preferences: language and sidebar. No data, no user checks needed."""

from __future__ import annotations

import reflex as rx

from fabrix_chat import i18n

# The sidebar is "auto" until the user toggles it: the CSS then shows it on desktops (>= 1024 px)
# and hides it (a rail on tablets, nothing on phones) on smaller screens, so no screen size
# ever flashes the wrong layout while the page loads.
SIDEBAR_MODES = ("auto", "open", "closed")
DESKTOP_QUERY = "(min-width: 1024px)"
# Asked in the browser when Toggle sidebar is pressed: is the sidebar shown right now?
SIDEBAR_SHOWN_JS = (
    "(function (mode) { return mode === 'open' || (mode === 'auto' && "
    f"window.matchMedia('{DESKTOP_QUERY}').matches); }})"
    "((document.querySelector('.app-shell') || {dataset: {}}).dataset.sidebar || 'auto')"
)


class UIState(rx.State):
    lang: str = rx.LocalStorage("en", name="fabrix_lang", sync=True)
    sidebar: str = "auto"
    shortcuts_open: bool = False  # the Keyboard shortcuts dialog

    @rx.var
    def strings(self) -> dict[str, str]:
        return i18n.table(self.lang)

    @rx.var
    def next_lang_name(self) -> str:
        """The name of the language the switch changes to, written in that language."""
        return "English" if self.lang == "ko" else "한국어"

    @rx.event
    def set_shortcuts_open(self, is_open: bool):
        self.shortcuts_open = bool(is_open)

    @rx.event
    def set_lang(self, lang: str):
        if lang in i18n.LANGUAGES:
            self.lang = lang
            return rx.call_script(f"document.documentElement.lang = '{lang}'")

    @rx.event
    def switch_lang(self):
        """The language button: English <-> Korean."""
        return UIState.set_lang("en" if self.lang == "ko" else "ko")

    @rx.event
    def toggle_sidebar(self):
        """Toggle sidebar: asks the browser whether the sidebar is shown at its current width."""
        return rx.call_script(SIDEBAR_SHOWN_JS, callback=UIState.set_sidebar_shown)

    @rx.event
    def set_sidebar_shown(self, shown: bool):
        """Callback of toggle_sidebar: hide it if it was shown, show it if it was not."""
        self.sidebar = "closed" if shown else "open"

    @rx.event
    def close_sidebar(self):
        """The scrim behind the overlay sidebar (tablets and phones) closes it."""
        self.sidebar = "closed"

    @rx.event
    def after_navigation(self):
        """A chosen conversation or New chat: an overlay sidebar gets out of the way.

        "auto" keeps a desktop sidebar open and closes the overlay on tablets and phones.
        """
        if self.sidebar == "open":
            self.sidebar = "auto"


def tr(key: str) -> rx.Var[str]:
    """The UI string `key` in the browser's language, as a Var for components."""
    if key not in i18n.STRINGS:
        raise KeyError(key)
    return UIState.strings[key].to(str)
