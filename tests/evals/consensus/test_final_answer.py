"""Final-answer extraction: the rule in evals/consensus/final_answer.py, its traps and its limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.consensus.final_answer import AnswerKind, FinalAnswer, expected_kind, extract_final

MMLU = """Which planet is largest?

Options:
(A) Mars
(B) Jupiter
(C) Venus
(D) Earth"""


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        (MMLU, AnswerKind.LETTER),
        ("How many legs does a spider have?", AnswerKind.NUMBER),
        ("She bought 3 apples at $2 each. What is the total cost?", AnswerKind.NUMBER),
        ("What's the total number of posts in March?", AnswerKind.NUMBER),
        ("In what year was the Eiffel Tower completed?", AnswerKind.YEAR),
        ("when did the cubs win a world series", AnswerKind.YEAR),
        ("Is the Earth round?", AnswerKind.YESNO),
        ("Who wrote Hamlet?", None),
        ("What does HTTP 429 mean and how should a client back off?", None),
    ],
)
def test_the_question_says_what_kind_of_answer_it_wants(
    question: str, kind: AnswerKind | None
) -> None:
    assert expected_kind(question) is kind


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The answer is (B).", "B"),
        ("Jupiter is the biggest. Answer: B", "B"),
        ("So the result is \\boxed{B}", "B"),
        ("B", "B"),
        ("(B) Jupiter", "B"),
    ],
)
def test_option_letters(text: str, value: str) -> None:
    assert extract_final(text, MMLU) == FinalAnswer(AnswerKind.LETTER, value)


def test_a_letter_the_question_does_not_offer_is_not_an_answer() -> None:
    assert extract_final("The answer is (H).", MMLU) is None
    assert extract_final("Mars is small and Jupiter is big; I'd go with it.", MMLU) is None


Q_COST = "Tom buys 12 pens at $100 each. How much does he pay?"


@pytest.mark.parametrize(
    "text",
    [
        "He pays $1,200.",
        "1200",
        "He pays 1,200 dollars in total.",
        "12 x 100 = 1200. So he pays 1200. The total is \\boxed{1200}.",
        "12 * 100 = 1,200\n#### 1200",
        "Each pen costs $100. There are 12 pens. So the total is 12 * 100 = $1200.00.",
        "The answer is $1,200.00.",
    ],
)
def test_the_same_number_however_it_is_written(text: str) -> None:
    assert extract_final(text, Q_COST) == FinalAnswer(AnswerKind.NUMBER, "1200")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Seen on the GSM8K dev panels: the unit glued to the boxed number hid it, and the
        # answer read as the last bare number of the working (20, 2, 3600).
        ("1000g + 1600g = 2600g. The bag weighs \\boxed{2600g}.", "2600"),
        ("78 marbles x 2 kg = 156kgs. \\boxed{156kgs}", "156"),
        ("0.02 Mb/s x 3600 s = 72Mb per hour. So it is \\boxed{72Mb/hour}.", "72"),
        ("The answer is 2600g.", "2600"),
    ],
)
def test_a_unit_glued_to_the_number_does_not_hide_it(text: str, value: str) -> None:
    q = "Joe has 1000 g of chocolate and 1600 g of apples, 20 in all. How much does it weigh?"
    assert extract_final(text, q) == FinalAnswer(AnswerKind.NUMBER, value)


def test_a_worked_answer_gives_its_last_number_a_short_one_its_first_new_one() -> None:
    worked = "He has 12 pens. Each costs $100. Together that is 1200. Minus a 200 discount, 1000."
    assert extract_final(worked, Q_COST) == FinalAnswer(AnswerKind.NUMBER, "1000")
    # The 12 of the question is not the answer.
    assert extract_final("For 12 pens he pays 1200.", Q_COST) == FinalAnswer(
        AnswerKind.NUMBER, "1200"
    )
    assert extract_final("A spider has eight legs.", "How many legs does a spider have?") == (
        FinalAnswer(AnswerKind.NUMBER, "8")
    )


def test_years_ignore_months_and_extra_detail() -> None:
    q = "In what year was the Eiffel Tower completed?"
    texts = [
        "The Eiffel Tower was completed in 1889, for the Exposition Universelle.",
        "It was completed in March 1889.",
        "Construction finished in 1889, in time for the 1889 World's Fair in Paris.",
    ]
    assert {extract_final(t, q) for t in texts} == {FinalAnswer(AnswerKind.YEAR, "1889")}
    assert extract_final("It was completed in 1887.", q) == FinalAnswer(AnswerKind.YEAR, "1887")


def test_yes_and_no() -> None:
    q = "Is the Earth round?"
    assert extract_final("Yes, roughly: an oblate spheroid.", q) == FinalAnswer(
        AnswerKind.YESNO, "yes"
    )
    assert extract_final("**No.** It is flat.", q) == FinalAnswer(AnswerKind.YESNO, "no")


@pytest.mark.parametrize(
    ("text", "question"),
    [
        # Documented limits: each of these reads no final answer (or a wrong one).
        ("Absolutely, it is round.", "Is the Earth round?"),
        ("Jupiter, the gas giant.", MMLU),
        ("Paris.", "What is the capital of France?"),
        ("", "How many legs does a spider have?"),
    ],
)
def test_where_the_rule_reads_nothing(text: str, question: str) -> None:
    assert extract_final(text, question) is None


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("In 2019 there were 3.", "3"),
        ("As of February 23, 2023, there are 2,634 stores in the US.", "2634"),
        ("As of late 2020, there were over 2,700 locations.", "2700"),
        ("On 4 July 2021 there were 12 of them.", "12"),
        ("Since mid 1998 the count has been 41.", "41"),
        # Amounts that look like years are amounts.
        ("It grew by 2000 members.", "2000"),
        ("There were around 1900 of them in 2001.", "1900"),
        # A date that is all the answer gives is its answer (to "how long", say).
        ("It was founded in September 2010.", "2010"),
    ],
)
def test_a_date_in_a_short_answer_is_not_the_count(text: str, count: str) -> None:
    final = extract_final(text, "How many were there?")
    assert final is not None and final.value == count


def test_a_date_answers_how_long() -> None:
    text = "Pi Day has been celebrated since 1988, on March 14 (3/14)."
    final = extract_final(text, "how long have we been celebrating pi day")
    assert final is not None and final.value == "1988"


def test_a_detail_number_in_a_short_answer_is_a_known_limit() -> None:
    # "In the 3 years since, 12 were found": the first new number is a detail.
    assert extract_final(
        "In the 3 years since, 12 were found.", "How many moons were found?"
    ) == FinalAnswer(AnswerKind.NUMBER, "3", frozenset({"12"}))


@given(
    value=st.integers(min_value=0, max_value=10**9),
    currency=st.sampled_from(["", "$", "€"]),
    separators=st.booleans(),
    decimals=st.booleans(),
)
def test_any_number_survives_currency_separators_and_zero_decimals(
    value: int, currency: str, separators: bool, decimals: bool
) -> None:
    written = f"{value:,}" if separators else str(value)
    written += ".00" if decimals else ""
    text = f"The answer is {currency}{written}."
    assert extract_final(text, "How much does it cost?") == FinalAnswer(
        AnswerKind.NUMBER, str(value)
    )


@given(a=st.integers(min_value=0, max_value=10**6), b=st.integers(min_value=0, max_value=10**6))
def test_different_numbers_never_read_the_same(a: int, b: int) -> None:
    q = "How many are there?"
    fa = extract_final(f"There are {a}.", q)
    fb = extract_final(f"There are {b}.", q)
    assert (fa == fb) == (a == b)
