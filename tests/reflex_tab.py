"""The Reflex internals the handler-level tests rely on, in one place, so that a Reflex upgrade
that changes them breaks this file and not every test:

- a browser tab's state tree built by hand (`rx.State(_reflex_internal_init=True)`, allowed
  under pytest), its router data (URL, client address, and the session header that web.py's
  websocket middleware hands the back end), and a state class's instance in it;
- running an event handler's function on the tab's instance of its state, as Reflex does;
- what the next update would send the browser (`get_delta`, var names ending in `_rx_state_`);
- reading events: the JavaScript of `rx.call_script`, the path of `rx.redirect`.
"""

from __future__ import annotations

import inspect
from typing import Any

import reflex as rx
from reflex.istate.data import HeaderData, ReflexURL, RouterData, SessionData

# Every state of the app, so a tab's tree holds them all as the app's does (a state class imported
# only later, inside a handler, would be missing from a tree built before).
import fabrix_chat.state.admin
import fabrix_chat.state.agents
import fabrix_chat.state.announcements
import fabrix_chat.state.composer
import fabrix_chat.state.conversation
import fabrix_chat.state.live_answer
import fabrix_chat.state.prompts
import fabrix_chat.state.share
import fabrix_chat.state.sidebar  # noqa: F401

FIELD_MARKER = "_rx_state_"  # how a var is named in what Reflex sends the browser


def session_headers(token: str = "") -> HeaderData:
    """The headers web.py's middleware hands the back end for a browser whose HttpOnly session
    cookie is `token` ("" for none): a reference to the session, never the cookie itself."""
    from fabrix_chat.services.auth import SESSION_HEADER, session_header_value

    return HeaderData.from_router_data({"headers": {SESSION_HEADER: session_header_value(token)} if token else {}})


class Tab:
    """One browser tab: a fresh state tree with its session cookie, URL and client address."""

    def __init__(self, token: str = "", path: str = "/chat", client_ip: str = "127.0.0.1") -> None:
        self.root = rx.State(_reflex_internal_init=True)
        self.token = token
        self.client_ip = client_ip
        self.visit(path)

    def visit(self, path: str = "/chat", token: str | None = None) -> None:
        """The tab's URL (and cookie, when another user signs in on it) for the next handler."""
        if token is not None:
            self.token = token
        self.root.router = RouterData(
            url=ReflexURL(f"http://testserver{path}"),
            headers=session_headers(self.token),
            session=SessionData(client_ip=self.client_ip, client_token="tab"),
        )

    def get(self, state_cls):
        """The tab's instance of `state_cls`."""
        return self.root.get_substate(state_cls.get_full_name().split(".")[1:])

    async def run(self, handler, *args: Any, **kwargs: Any) -> Any:
        """Run an event handler on this tab the way Reflex does: what it returned, or the list of
        what it yielded."""
        result = handler.fn(self.get(handler.state), *args, **kwargs)
        if inspect.isasyncgen(result):
            return [item async for item in result]
        if inspect.iscoroutine(result):
            return await result
        return result

    def stream(self, handler, *args: Any):
        """A handler that yields, run step by step: its async generator on this tab."""
        return handler.fn(self.get(handler.state), *args)

    def held(self) -> str:
        """Everything the tab holds: every var of every state, backend-only ones included, and
        what the browser would be sent on a full update."""
        values = {}
        pending = [self.root]
        while pending:
            state = pending.pop()
            pending.extend(state.substates.values())
            values[state.get_full_name()] = {name: state.get_value(name) for name in type(state).__fields__}
        return repr(values) + repr(self.root.dict())

    def sent(self, state_cls) -> set[str]:
        """The vars of `state_cls` the next update sends the browser (what changed since `clean`)."""
        delta = self.root.get_delta()
        return {name.removesuffix(FIELD_MARKER) for name in delta.get(state_cls.get_full_name(), {})}

    def clean(self) -> None:
        """As after an update was sent: nothing is dirty."""
        self.root.get_delta()
        self.root._clean()


def event_arguments(handler) -> dict[str, Any]:
    """The arguments (with their types) Reflex reads an event handler to take from the browser."""
    return {name: kind for name, kind in handler._get_type_hints().items() if name != "return"}


def owns_var(state_cls, name: str) -> bool:
    """Whether `name` is a var `state_cls` declares itself (not one inherited from a parent)."""
    field = state_cls.__fields__.get(name)
    return (field is not None and field._owner is state_cls) or name in state_cls.computed_vars


def oplock_enabled(manager) -> bool:
    """Whether Reflex's Redis state manager holds tab states between events (opportunistic lock)."""
    return bool(manager._oplock_enabled)


def js_of(event) -> str:
    """The JavaScript of an rx.call_script event ("" for any other event)."""
    for name, value in getattr(event, "args", ()):
        if name._js_expr == "javascript_code":
            return value._var_value
    return ""


def set_value_of(event) -> tuple[str, str]:
    """(element id, value) of an rx.set_value event (("", "") for any other event)."""
    args = {name._js_expr: getattr(value, "_var_value", None) for name, value in getattr(event, "args", ())}
    if set(args) != {"ref", "value"}:
        return "", ""
    return str(args["ref"]).removeprefix("ref_").replace("_", "-"), str(args["value"])


def download_of(event) -> tuple[str, str]:
    """(file name, text) of an rx.download event whose data Reflex put in a base64 data: URL."""
    import base64

    args = {name._js_expr: value._var_value for name, value in getattr(event, "args", ())}
    header, _, payload = str(args.get("url", "")).partition(",")
    assert header.startswith("data:") and header.endswith(";base64"), header
    return str(args.get("filename", "")), base64.b64decode(payload).decode("utf-8")


def redirect_path(events) -> str | None:
    """The path of the first rx.redirect in `events` (one event or a list), or None."""
    for event in events if isinstance(events, list) else [events]:
        args = {getattr(name, "_js_expr", str(name)): value for name, value in getattr(event, "args", ())}
        if "path" in args and "external" in args:
            return args["path"]._var_value
    return None
