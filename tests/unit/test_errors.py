"""Every FabriX failure maps to one plain message a user can read, with details kept for admins."""

from __future__ import annotations

import pytest

from fabrix_chat.fabrix.errors import (
    FabrixAuthError,
    FabrixBadResponse,
    FabrixContentFiltered,
    FabrixError,
    FabrixNetworkError,
    FabrixRateLimited,
    FabrixTimeout,
    FabrixUnavailable,
    FabrixUpstreamError,
    user_message,
)

ALL = [
    (FabrixNetworkError, "network"),
    (FabrixTimeout, "timeout"),
    (FabrixAuthError, "auth"),
    (FabrixRateLimited, "rate_limited"),
    (FabrixUnavailable, "unavailable"),
    (FabrixUpstreamError, "upstream"),
    (FabrixContentFiltered, "filtered"),
    (FabrixBadResponse, "bad_response"),
]


@pytest.mark.parametrize(("cls", "kind"), ALL)
def test_each_error_has_its_kind_and_a_plain_message(cls: type[FabrixError], kind: str) -> None:
    exc = cls(detail="HTTP 500 from https://fabrix.example/api")
    assert isinstance(exc, FabrixError)
    assert exc.kind == kind
    assert user_message(exc) == exc.message
    assert exc.message.endswith(".")
    assert "HTTP" not in exc.message  # technical details stay in .detail
    assert exc.detail == "HTTP 500 from https://fabrix.example/api"


def test_messages_differ_per_kind() -> None:
    messages = {cls().message for cls, _ in ALL}
    assert len(messages) == len(ALL)


def test_detail_defaults_to_the_message() -> None:
    assert FabrixTimeout().detail == FabrixTimeout().message


def test_auth_error_tells_the_user_an_administrator_was_told() -> None:
    exc = FabrixAuthError(detail="FabriX ask: HTTP 401")
    assert "administrator" in user_message(exc)
    assert "401" in exc.detail and "401" not in exc.message


def test_rate_limited_carries_retry_after_and_says_how_long_to_wait() -> None:
    exc = FabrixRateLimited(retry_after=30.0)
    assert exc.retry_after == 30.0
    assert "30 seconds" in user_message(exc)
    assert FabrixRateLimited().retry_after is None
    assert "seconds" not in FabrixRateLimited().message


def test_content_filtered_shows_the_filters_own_text() -> None:
    exc = FabrixContentFiltered("차단되었습니다", texts={"ko": "차단되었습니다"})
    assert user_message(exc) == "차단되었습니다"
    assert exc.texts == {"ko": "차단되었습니다"}


def test_received_any_defaults_to_false_and_can_be_set() -> None:
    assert FabrixNetworkError().received_any is False
    assert FabrixNetworkError(received_any=True).received_any is True


@pytest.mark.parametrize("exc", [ValueError("token=abc123"), RuntimeError(), KeyError("x")])
def test_other_exceptions_get_the_generic_message_without_their_text(exc: BaseException) -> None:
    message = user_message(exc)
    assert message.startswith("Something went wrong")
    assert "abc123" not in message
