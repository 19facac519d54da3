"""What a user sees when an event fails with an exception no handler caught: Reflex's backend
exception handler, replaced. Reflex's own says "An error occurred. Contact the website
administrator." in a toast; this one says plainly what happened (the database or Redis not
answering, a full disk: outages.py; anything else: the generic message) in an alert with Dismiss,
on any page, and the question being sent goes back into the message box (assets/problem.js).

It must work while Redis, which holds every tab's state, is down: so it changes no state and
sends one script, in both languages (the page knows which one it shows).
"""

from __future__ import annotations

import json
import logging

import reflex as rx
from reflex.event import EventSpec

from fabrix_chat import i18n, outages

log = logging.getLogger(__name__)


def _texts(text_of) -> str:
    """The message in every language, for assets/problem.js (the page picks its own)."""
    texts = {lang: {"text": text_of(lang), "dismiss": i18n.t("dismiss", lang)} for lang in i18n.LANGUAGES}
    return json.dumps(texts, ensure_ascii=False)


def problem_script(exc: BaseException) -> str:
    return f"window.fabrixProblem&&fabrixProblem({_texts(lambda lang: i18n.error_text(exc, lang))})"


def reload_saying(key: str) -> EventSpec:
    """Reload the page, then show the message of `key` on it: for a tab whose state the server no
    longer has, which only a page load (with its session) can rebuild."""
    texts = _texts(lambda lang: i18n.t(key, lang))
    return rx.call_script(f"window.fabrixReloadSaying ? fabrixReloadSaying({texts}) : location.reload()")


def show_failure(exception: Exception) -> EventSpec:
    """rx.App(backend_exception_handler=...): log it, and tell the user in plain words. (Reflex
    checks the return annotation by its name: it must read `EventSpec`.)"""
    key = outages.text_key(exception)
    if key is not None:
        # Not a bug of the app: one line, not a traceback per event while the server is down.
        log.warning("an event failed: %s (%s)", key, outages.describe(exception))
    else:
        log.error("an event failed", exc_info=exception)
    return rx.call_script(problem_script(exception))
