"""What is sent with a question (services/chat.py): the turns of the conversation within
`history_turns` and the token budget, and the token estimate the rate limiter counts."""

from __future__ import annotations

import pytest

from fabrix_chat.services.chat import HistoryWindow, build_contents, estimate_tokens, history_window

# --- the conversation window ---------------------------------------------------------------------


def test_contents_alternate_and_end_with_the_question() -> None:
    history = [("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2")]
    assert build_contents(history, "q", 10) == ["u1", "a1", "u2", "a2", "q"]


def test_contents_keep_only_the_last_turns() -> None:
    history = [item for i in range(12) for item in (("user", f"u{i}"), ("assistant", f"a{i}"))]
    contents = build_contents(history, "q", 10)
    assert len(contents) == 21
    assert contents[:2] == ["u2", "a2"] and contents[-3:] == ["u11", "a11", "q"]


def test_unanswered_user_message_is_dropped_to_keep_alternation() -> None:
    history = [("user", "u1"), ("assistant", "a1"), ("user", "failed"), ("user", "u2"), ("assistant", "a2")]
    assert build_contents(history, "q", 10) == ["u1", "a1", "u2", "a2", "q"]
    assert build_contents([("user", "u1"), ("assistant", "a1"), ("user", "stopped")], "q", 10) == ["u1", "a1", "q"]


def test_empty_texts_and_orphan_answers_are_skipped() -> None:
    history = [("assistant", "welcome"), ("user", "u1"), ("assistant", " "), ("assistant", "a1"), ("user", "")]
    assert build_contents(history, "q", 10) == ["u1", "a1", "q"]


def test_window_of_zero_turns_sends_only_the_question() -> None:
    assert build_contents([("user", "u1"), ("assistant", "a1")], "q", 0) == ["q"]


@pytest.mark.parametrize("question", ["", "   \n"])
def test_empty_question_is_refused(question: str) -> None:
    with pytest.raises(ValueError):
        build_contents([], question, 10)


# --- the conversation window within the token budget ---------------------------------------------


def turns(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    return [item for user, answer in pairs for item in (("user", user), ("assistant", answer))]


def tokens_sent(window: HistoryWindow) -> int:
    """What the rate limiter counts for a request: the estimate of every text sent."""
    return sum(estimate_tokens(text) for text in window.contents)


def test_two_long_answers_are_not_resent_with_every_question() -> None:
    """The default budget (0.25 of tpm 10,000): two 20 KB answers would spend tpm in one minute."""
    history = turns(("explain A", "a" * 20_000), ("explain B", "b" * 20_000))
    window = history_window(history, "and C?", max_turns=10, max_tokens=2500)
    assert window == HistoryWindow(contents=["and C?"], left_out=2)


def test_a_huge_earlier_answer_ends_the_window_so_no_older_turn_is_sent() -> None:
    history = turns(("u0", "a0"), ("u1", "x" * 4000), ("u2", "a2"), ("u3", "a3"))
    window = history_window(history, "q", max_turns=10, max_tokens=100)
    assert window.contents == ["u2", "a2", "u3", "a3", "q"], "u0/a0 would fit, but not without the gap"
    assert window.left_out == 2
    assert tokens_sent(window) <= 100


def test_turns_are_kept_whole() -> None:
    history = turns(("u1", "long answer " * 20))  # 60 tokens
    window = history_window(history, "q", max_turns=10, max_tokens=40)
    assert window.contents == ["q"] and window.left_out == 1


def test_korean_counts_one_token_per_character() -> None:
    english, korean = "x" * 400, "가" * 400  # 100 and 400 tokens
    assert history_window(turns(("질문", english)), "다음", max_turns=10, max_tokens=150).left_out == 0
    window = history_window(turns(("질문", korean)), "다음", max_turns=10, max_tokens=150)
    assert window.contents == ["다음"] and window.left_out == 1
    window = history_window(turns(("질문", korean)), "다음", max_turns=10, max_tokens=404)
    assert window.contents == ["질문", korean, "다음"] and tokens_sent(window) == 404


def test_a_question_over_the_budget_is_sent_alone_and_whole() -> None:
    question = "x" * 400  # 100 tokens
    window = history_window(turns(("u1", "a1"), ("u2", "a2"), ("u3", "a3")), question, max_turns=10, max_tokens=50)
    assert window == HistoryWindow(contents=[question], left_out=3)


def test_a_window_exactly_at_the_budget_is_sent() -> None:
    history = turns(("abcd", "abcdefgh"))  # 1 + 2 tokens, the question 1
    assert history_window(history, "abcd", max_turns=10, max_tokens=4) == HistoryWindow(
        contents=["abcd", "abcdefgh", "abcd"], left_out=0
    )
    assert history_window(history, "abcd", max_turns=10, max_tokens=3) == HistoryWindow(contents=["abcd"], left_out=1)


def test_max_turns_still_bounds_the_window_and_the_count() -> None:
    history = turns(*((f"u{i}", f"a{i}") for i in range(12)))
    window = history_window(history, "q", max_turns=10, max_tokens=10_000)
    assert len(window.contents) == 21 and window.contents[:2] == ["u2", "a2"]
    assert window.left_out == 0, "turns beyond max_turns are not counted as left out"
    window = history_window(history, "q", max_turns=10, max_tokens=7)  # q 1 + three turns of 2
    assert window.contents == ["u9", "a9", "u10", "a10", "u11", "a11", "q"] and window.left_out == 7
    assert history_window(history, "q", max_turns=0, max_tokens=10_000) == HistoryWindow(["q"], 0)


def test_empty_history_sends_the_question() -> None:
    assert history_window([], "q", max_turns=10, max_tokens=100) == HistoryWindow(contents=["q"], left_out=0)


def test_the_window_reads_turns_as_build_contents_does() -> None:
    history = [("assistant", "welcome"), ("user", "failed"), ("user", "u1"), ("assistant", "a1"), ("user", "")]
    assert history_window(history, "q", max_turns=10, max_tokens=100).contents == build_contents(history, "q", 10)
    with pytest.raises(ValueError):
        history_window(history, "  ", max_turns=10, max_tokens=100)


# --- token estimate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abcd", 1), ("abcde", 2), ("안녕하세요", 5), ("hi 안녕", 3), ("x" * 400, 100)],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_korean_costs_more_than_characters_over_four() -> None:
    text = "파이썬 데코레이터는 함수를 감싸는 함수입니다" * 10
    assert estimate_tokens(text) > len(text) / 4 * 3
