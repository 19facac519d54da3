"""The small set of errors the FabriX layer raises, each naming what the user is told.

`text_key()` is the `i18n` key of the plain message for the user and `text_values(lang)` its
placeholders; `i18n.error_text(exc, lang)` turns any error into that text. `detail` is for logs
and admins, and `message` is the upstream's own words where it sent some (the content filter's
reason). None of them ever contains the client key or the token (the client redacts them before
building an error).
"""

from __future__ import annotations

import math
from typing import ClassVar


class FabrixError(Exception):
    """Base of every FabriX failure; `kind` names the failure for the logs and the usage records."""

    kind: ClassVar[str] = "upstream"
    i18n_key: ClassVar[str] = "error_generic"

    def __init__(self, message: str | None = None, *, detail: str = "", received_any: bool = False) -> None:
        self.message: str = message or ""
        self.detail: str = detail or self.message or self.kind
        # True when the failure came after answer text had already reached the caller:
        # the partial answer is kept and the question must not be sent again automatically.
        self.received_any: bool = received_any
        super().__init__(self.detail)

    def text_key(self) -> str:
        """The `i18n` key of what the user is told."""
        return self.i18n_key

    def text_values(self, lang: str) -> dict[str, object]:
        """The values of that text's placeholders."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, detail={self.detail!r}, received_any={self.received_any})"


class _CutOff(FabrixError):
    """A failure that, after some answer text, means the connection was lost mid-answer."""

    def text_key(self) -> str:
        return "error_connection_lost" if self.received_any else self.i18n_key


class FabrixNetworkError(_CutOff):
    """FabriX could not be reached, or the connection dropped."""

    kind = "network"
    i18n_key = "error_network"


class FabrixTimeout(_CutOff):
    """Connecting took too long, or the answer stalled between chunks."""

    kind = "timeout"
    i18n_key = "error_timeout"


class FabrixAuthError(FabrixError):
    """401/403: the configured client key or token was refused."""

    kind = "auth"
    i18n_key = "error_auth"


class FabrixRateLimited(FabrixError):
    """429: FabriX asks us to slow down; `retry_after` is in seconds when it said so."""

    kind = "rate_limited"
    i18n_key = "error_rate_limited"
    DEFAULT_WAIT_SECONDS: ClassVar[int] = 5  # what the user is told when FabriX did not say

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str = "",
        received_any: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after: float | None = retry_after
        super().__init__(message, detail=detail, received_any=received_any)

    def text_values(self, lang: str) -> dict[str, object]:
        return {"seconds": max(1, math.ceil(self.retry_after or self.DEFAULT_WAIT_SECONDS))}


class FabrixUnavailable(FabrixError):
    """5xx: FabriX is down or overloaded."""

    kind = "unavailable"
    i18n_key = "error_unavailable"


class FabrixUpstreamError(FabrixError):
    """FabriX answered with an error: in-stream ERROR, status != SUCCESS, an `error` object, R40000."""

    kind = "upstream"
    i18n_key = "error_upstream"


class FabrixContentFiltered(FabrixError):
    """The content filter blocked the question or answer; `message` is the filter's own text.

    `texts` holds every language the filter sent (keys "message", "en", "ko") so the UI can pick.
    """

    kind = "filtered"
    i18n_key = "error_filtered"

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

    def text_values(self, lang: str) -> dict[str, object]:
        # The filter sends its reason in several languages: the user's when it is there.
        return {"detail": self.texts.get(lang) or self.message or self.texts.get("message", "")}


class FabrixBadResponse(FabrixError):
    """FabriX sent something that is not a response we can read."""

    kind = "bad_response"
    i18n_key = "error_bad_response"
