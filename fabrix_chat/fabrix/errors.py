"""The small set of errors the FabriX layer raises, and the one plain message for each.

`message` is plain English safe to show any user; `detail` is for logs and admins. Neither ever
contains the client key or the token (the client redacts them before building an error).
"""

from __future__ import annotations

from typing import ClassVar

GENERIC_MESSAGE = "Something went wrong while talking to the assistant. Please try again."


class FabrixError(Exception):
    """Base of every FabriX failure; `kind` names the failure for the UI and the logs."""

    kind: ClassVar[str] = "upstream"
    default_message: ClassVar[str] = GENERIC_MESSAGE

    def __init__(self, message: str | None = None, *, detail: str = "", received_any: bool = False) -> None:
        self.message: str = message or self.default_message
        self.detail: str = detail or self.message
        # True when the failure came after answer text had already reached the caller:
        # the partial answer is kept and the question must not be sent again automatically.
        self.received_any: bool = received_any
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, detail={self.detail!r}, received_any={self.received_any})"


class FabrixNetworkError(FabrixError):
    """FabriX could not be reached, or the connection dropped."""

    kind = "network"
    default_message = "Cannot reach FabriX right now. Please check the network and try again."


class FabrixTimeout(FabrixError):
    """Connecting took too long, or the answer stalled between chunks."""

    kind = "timeout"
    default_message = "FabriX took too long to answer. Please try again."


class FabrixAuthError(FabrixError):
    """401/403: the configured client key or token was refused."""

    kind = "auth"
    default_message = "The service is not configured correctly; an administrator has been told."


class FabrixRateLimited(FabrixError):
    """429: FabriX asks us to slow down; `retry_after` is in seconds when it said so."""

    kind = "rate_limited"
    default_message = "FabriX is receiving too many requests. Please wait a moment and try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str = "",
        received_any: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after: float | None = retry_after
        if message is None and retry_after is not None and retry_after > 0:
            seconds = max(1, round(retry_after))
            unit = "second" if seconds == 1 else "seconds"
            message = f"FabriX is receiving too many requests. Please try again in {seconds} {unit}."
        super().__init__(message, detail=detail, received_any=received_any)


class FabrixUnavailable(FabrixError):
    """5xx: FabriX is down or overloaded."""

    kind = "unavailable"
    default_message = "FabriX is temporarily unavailable. Please try again in a few minutes."


class FabrixUpstreamError(FabrixError):
    """FabriX answered with an error: in-stream ERROR, status != SUCCESS, an `error` object, R40000."""

    kind = "upstream"
    default_message = "The assistant reported an error and could not finish the answer. Please try again."


class FabrixContentFiltered(FabrixError):
    """The content filter blocked the question or answer; `message` is the filter's own text.

    `texts` holds every language the filter sent (keys "message", "en", "ko") so the UI can pick.
    """

    kind = "filtered"
    default_message = "This request was blocked by the content filter."

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str = "",
        received_any: bool = False,
        texts: dict[str, str] | None = None,
    ) -> None:
        self.texts: dict[str, str] = dict(texts or {})
        super().__init__(message, detail=detail, received_any=received_any)


class FabrixBadResponse(FabrixError):
    """FabriX sent something that is not a response we can read."""

    kind = "bad_response"
    default_message = "FabriX sent a response the app could not read. Please try again."


def user_message(exc: BaseException) -> str:
    """The one plain message to show a user for any exception."""
    if isinstance(exc, FabrixError):
        return exc.message
    return GENERIC_MESSAGE
