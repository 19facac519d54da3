"""Every failure maps to one plain message a user can read, in their language, with details kept
for the log (fabrix/errors.py, the limiter's refusal, i18n.error_text)."""

from __future__ import annotations

import pytest

from fabrix_chat import i18n
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
)
from fabrix_chat.fabrix.limiter import RateLimited

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
DETAIL = "HTTP 500 from https://fabrix.example/api token=abc123"


@pytest.mark.parametrize(("cls", "kind"), ALL)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_each_error_has_its_kind_and_a_plain_message_in_each_language(cls: type[FabrixError], kind: str, lang) -> None:
    exc = cls(detail=DETAIL)
    assert isinstance(exc, FabrixError) and exc.kind == kind
    assert exc.text_key() in i18n.STRINGS
    text = i18n.error_text(exc, lang)
    assert text and "HTTP" not in text and "abc123" not in text  # technical details stay in .detail
    assert "{" not in text  # every placeholder filled
    assert exc.detail == DETAIL and str(exc) == DETAIL


def test_messages_differ_per_kind() -> None:
    assert len({i18n.error_text(cls()) for cls, _ in ALL}) == len(ALL)
    assert i18n.error_text(FabrixTimeout(), "ko") != i18n.error_text(FabrixTimeout(), "en")


def test_a_connection_lost_after_some_text_says_what_arrived_is_kept() -> None:
    for cls in (FabrixNetworkError, FabrixTimeout):
        assert i18n.error_text(cls(received_any=True)) == i18n.t("error_connection_lost")
        assert i18n.error_text(cls()) != i18n.t("error_connection_lost")
    assert i18n.error_text(FabrixAuthError(received_any=True)) == i18n.t("error_auth")


def test_rate_limited_says_how_long_to_wait() -> None:
    assert i18n.error_text(FabrixRateLimited(retry_after=29.2)) == i18n.t("error_rate_limited", seconds=30)
    assert FabrixRateLimited().retry_after is None
    assert i18n.error_text(FabrixRateLimited()) == i18n.t("error_rate_limited", seconds=5)
    assert i18n.error_text(RateLimited(0.2), "ko") == i18n.t("error_rate_limited", "ko", seconds=1)


def test_content_filtered_shows_the_filters_own_text_in_the_users_language() -> None:
    exc = FabrixContentFiltered("blocked", texts={"ko": "차단되었습니다", "en": "Blocked by policy"})
    assert i18n.error_text(exc, "ko") == i18n.t("error_filtered", "ko", detail="차단되었습니다")
    assert i18n.error_text(exc, "en") == i18n.t("error_filtered", "en", detail="Blocked by policy")
    assert i18n.error_text(FabrixContentFiltered("only this"), "ko").endswith("only this")


def test_received_any_defaults_to_false_and_can_be_set() -> None:
    assert FabrixNetworkError().received_any is False
    assert FabrixNetworkError(received_any=True).received_any is True


@pytest.mark.parametrize("exc", [ValueError("token=abc123"), RuntimeError(), KeyError("x")])
def test_other_exceptions_get_the_generic_message_without_their_text(exc: BaseException) -> None:
    assert i18n.error_text(exc) == i18n.t("error_generic")
    assert i18n.error_text(exc, "ko") == i18n.t("error_generic", "ko")
