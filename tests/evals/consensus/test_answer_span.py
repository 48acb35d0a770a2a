"""The answer span: what an answer's first claim names, relative to the question.

Each case here is an equivalence failure seen on short-answer (NQ-style) panels: two
answers a reader calls the same split apart, or two different ones run together.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.consensus.answer_span import (
    answer_span,
    first_sentence,
    same_entity,
    strip_heading_echo,
)
from evals.consensus.final_answer import extract_final, same_final
from evals.consensus.wording import content_words, key_facts, overlap, words

OBAMA_Q = "who was president when the affordable care act was signed"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("It was Obama.", "Barack Obama, the 44th president, signed it in 2010."),
        ("President Obama.", "Barack Obama signed it."),
        ("Obama signed it into law in March 2010.", "It was signed by Barack Obama in 2010."),
    ],
)
def test_the_same_person_inside_different_sentences_is_the_same_answer(a: str, b: str) -> None:
    assert same_entity(answer_span(a, OBAMA_Q), answer_span(b, OBAMA_Q)) is True


def test_spans_naming_different_people_are_told_apart() -> None:
    a = answer_span("It was signed by Barack Obama in 2010.", OBAMA_Q)
    b = answer_span("It was signed by George Bush in 2010.", OBAMA_Q)
    assert same_entity(a, b) is False


def test_details_after_the_first_sentence_are_not_part_of_the_span() -> None:
    q = "who was president when the panama canal was built"
    a = answer_span("Theodore Roosevelt was president then. The canal opened in 1914.", q)
    b = answer_span("Theodore Roosevelt. He was in office from 1901 to 1909.", q)
    assert "1914" not in a.content
    assert same_entity(a, b) is True


@pytest.mark.parametrize(
    ("question", "a", "b"),
    [
        (
            "Who did the British fight at the Battle of Rorke's Drift in 1879?",
            "The British fought the Zulus at Rorke's Drift.",
            "They fought the Zulu Kingdom.",
        ),
        (
            "Who would carry a knife called a kukri?",
            "It is carried by Gurkha soldiers.",
            "Traditionally the Gurkhas of the Nepalese army.",
        ),
    ],
)
def test_a_plural_or_adjective_names_the_same_thing(question: str, a: str, b: str) -> None:
    assert same_entity(answer_span(a, question), answer_span(b, question)) is True


def test_a_span_that_names_nothing_cannot_tell() -> None:
    q = "what is the general structure of a url"
    a = answer_span("It has a scheme, a host and a path.", q)
    b = answer_span("A protocol, then a hostname, then a file name.", q)
    assert same_entity(a, b) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Cubs World Series: The Chicago Cubs won the World Series in 2016.",
            "The Chicago Cubs won the World Series in 2016.",
        ),
        (
            "**When did the Cubs win a World Series:** In 2016.",
            "In 2016.",
        ),
        # Not an echo of the question: kept.
        ("Note: nobody knows for sure.", "Note: nobody knows for sure."),
    ],
)
def test_a_heading_that_repeats_the_question_is_dropped(text: str, expected: str) -> None:
    assert strip_heading_echo(text, "when did the cubs win a world series") == expected


def test_a_sentence_before_a_colon_that_names_the_answer_is_not_a_heading() -> None:
    q = "mark who won two golf majors in 1998"
    text = "Mark O'Meara won two golf majors in 1998: the Masters and The Open."
    assert strip_heading_echo(text, q) == text
    assert "o'meara" in answer_span(text, q).names


def test_a_heading_word_is_not_a_name_the_answers_can_disagree_on() -> None:
    q = "how long did it take to build the great pyramid of egypt"
    body = strip_heading_echo("Build Time for the Great Pyramid: About 20 years, at Giza.", q)
    assert "time" not in key_facts(body, q).names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("J. R. R. Tolkien wrote it. He was British.", "J. R. R. Tolkien wrote it."),
        ("The U.S. Army did. Later the Navy.", "The U.S. Army did."),
        ("Dr. Who is a series. It is British.", "Dr. Who is a series."),
        ("Paris\nIt is the capital.", "Paris"),
    ],
)
def test_initials_and_abbreviations_do_not_end_the_first_sentence(text: str, expected: str) -> None:
    assert first_sentence(text) == expected


def test_initials_do_not_hide_the_name_after_them() -> None:
    facts = key_facts("The Hobbit was written by J. R. R. Tolkien in 1937.", "who wrote the hobbit")
    assert "tolkien" in facts.names


def test_letters_outside_a_to_z_stay_inside_their_word() -> None:
    assert words("Sinéad O'Connor sang it") == ["Sinéad", "O'Connor", "sang", "it"]
    span = answer_span("It is sung by Sinéad O'Connor.", "who sings the skye boat song")
    assert "sinéad" in span.names


@pytest.mark.parametrize(
    ("question", "a", "b"),
    [
        (
            "when did the angel of the north get built",
            "The Angel of the North was completed in 1998.",
            "The Angel of the North was built between 1994 and 1998.",
        ),
        (
            "when was the $1 000 bill discontinued",
            "The $1,000 bill was officially discontinued in 1969.",
            "It was last printed in 1946 and officially discontinued in 1969.",
        ),
        (
            "the secret of crickley hall how many episodes",
            "It has three episodes.",
            "The 2006 novel was adapted by the BBC in three episodes.",
        ),
    ],
)
def test_a_short_answer_that_adds_a_second_value_still_gives_the_first(
    question: str, a: str, b: str
) -> None:
    final_a, final_b = extract_final(a, question), extract_final(b, question)
    assert final_a is not None and final_b is not None
    assert same_final(final_a, final_b)


def test_different_years_are_still_different_answers() -> None:
    q = "when did the us stop trading with japan"
    a = extract_final("The US stopped trading with Japan in 1941.", q)
    b = extract_final("Trade sanctions on Japan began in 1940.", q)
    assert a is not None and b is not None
    assert not same_final(a, b)


def test_a_worked_answer_commits_to_its_last_number_only() -> None:
    q = "Tom has 3 apples and buys 4 more. How many apples does he have?"
    worked = extract_final("He starts with 3. He buys 4. 3 + 4 = 7. He has 7 apples.", q)
    other = extract_final("He has 4 apples.", q)
    assert worked is not None and other is not None
    assert not same_final(worked, other)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Mount Everest is in the Himalayan range.", "It is in the Himalaya."),
        ("The Central Powers defeated Russia.", "The Central Powers defeated the Russians."),
        ("Gurkha soldiers from Nepal.", "Nepalese Gurkhas."),
    ],
)
def test_a_word_with_another_ending_is_said_by_both(a: str, b: str) -> None:
    assert overlap(content_words(a), content_words(b)) == 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The port of Hamburg.", "A portrait of Hamburg."),  # more than an ending added
        ("Iran.", "Iraq."),
        ("The sea.", "The season."),  # too short to be a stem
    ],
)
def test_words_that_only_start_alike_are_not_one_word(a: str, b: str) -> None:
    assert overlap(content_words(a), content_words(b)) < 1.0


_WORDS = st.frozensets(st.text(alphabet="abcdefghij", min_size=1, max_size=9), max_size=8)


@given(_WORDS, _WORDS)
def test_overlap_is_symmetric_and_a_share(a: frozenset[str], b: frozenset[str]) -> None:
    assert overlap(a, b) == overlap(b, a)
    assert 0.0 <= overlap(a, b) <= 1.0
    if a:
        assert overlap(a, a) == 1.0
