"""Answers that open with a disclaimer, and scraped answers with glued words and citation
marks: each case is a same-answer pair seen split apart on the short-answer dev panels."""

from __future__ import annotations

import pytest

from evals.consensus.wording import answer_body, is_non_answer, tidy_text


@pytest.mark.parametrize(
    ("text", "body"),
    [
        (
            "As an AI language model, I don't have access to real-time information. However, "
            "the military plane crash in Mississippi happened on July 10, 2017.",
            "the military plane crash in Mississippi happened on July 10, 2017.",
        ),
        (
            "As an AI language model, I don't have personal opinions or emotions. However, I "
            "can provide you with factual information. In the first two seasons of Skins, "
            "Tony ends up with Michelle.",
            "In the first two seasons of Skins, Tony ends up with Michelle.",
        ),
        (
            "I'm sorry, but I don't have access to real-time data. But the first season "
            "premiered on October 10, 2017.",
            "the first season premiered on October 10, 2017.",
        ),
        # The turn is a "but" inside the first sentence.
        (
            "As an AI language model, I don't have access to real-time information, but as "
            "of 2018, the tallest building in the world is the Burj Khalifa in Dubai.",
            "as of 2018, the tallest building in the world is the Burj Khalifa in Dubai.",
        ),
        (
            "As an AI language model, I don't consume food or drink, but I can provide you "
            "the ingredients of a Pat O'Brien Hurricane cocktail. The ingredients are: dark "
            "rum, light rum and passion fruit syrup.",
            "The ingredients are: dark rum, light rum and passion fruit syrup.",
        ),
        # What follows "I can tell you that" is the answer, not more about the model.
        (
            "As an AI language model, I don't have information about the current year. "
            "However, I can tell you that the 2017 Sports Personality of the Year was Sir Mo "
            "Farah.",
            "the 2017 Sports Personality of the Year was Sir Mo Farah.",
        ),
        (
            "As an AI language model, I do not have personal beliefs or opinions, but to "
            "answer your question, the books were removed during the Reformation.",
            "the books were removed during the Reformation.",
        ),
    ],
)
def test_a_disclaimer_the_answer_then_sets_aside_is_not_a_non_answer(text: str, body: str) -> None:
    assert answer_body(text) == body
    assert not is_non_answer(text)


@pytest.mark.parametrize(
    "text",
    [
        "As an AI language model, I cannot answer that.",
        "I'm sorry, as an AI language model, I don't have access to real-time TV schedules. "
        "However, I can provide you with a general overview of the episode.",
        "I'm sorry, but I can't help with that. But thanks.",
        # It found nothing: what follows the turn is about something else.
        "I’m sorry, but I couldn’t find the exact number of titles won by Americans. However, "
        "I did find that the 1904 Olympics were held in St. Louis.",
        "I have no comment.",
        "As an AI language model, I don't have opinions, but I can provide information.",
        "As an AI language model, I cannot browse, but I can tell you that.",
    ],
)
def test_a_disclaimer_that_turns_to_nothing_is_still_a_non_answer(text: str) -> None:
    assert is_non_answer(text)


def test_an_answer_without_a_disclaimer_is_its_own_body() -> None:
    text = "However you count it, Brazil has hosted the World Cup twice."
    assert answer_body(text) == text


@pytest.mark.parametrize(
    ("text", "tidy"),
    [
        (
            "The US state that forms the western boundary of Montana isIdaho1.",
            "The US state that forms the western boundary of Montana is Idaho.",
        ),
        (
            "TheHouston Astros won the pennant in 20171.",
            "The Houston Astros won the pennant in 2017.",
        ),
        ("It was discontinued in 196912.", "It was discontinued in 1969."),
        (
            "The tour started on April 1, 20161. It ended",
            "The tour started on April 1, 2016. It ended",
        ),
        ("Mark O’Meara won two majors.", "Mark O'Meara won two majors."),
        # A lower-case word glued to a name, and a number glued to the word before it.
        (
            "It was recorded by American singerMariah Carey.",
            "It was recorded by American singer Mariah Carey.",
        ),
        (
            "It is 94 feet by 50 feet, making it4700 square feet.",
            "It is 94 feet by 50 feet, making it 4700 square feet.",
        ),
        ("The line opened in1848.", "The line opened in 1848."),
        ("There are1,754 stores.", "There are 1,754 stores."),
    ],
)
def test_scraped_glue_and_citation_marks_are_undone(text: str, tidy: str) -> None:
    assert tidy_text(text) == tidy


@pytest.mark.parametrize(
    "text",
    [
        "It was officially opened by Theodore Roosevelt.",
        "The town had 10000 people in 1990.",
        "He scored 21 of 23 points, 12.5 a game.",
        "Isabel and Ingrid won in 2016.",
        "So x = \\sqrt2 and y = \\frac12.",
        # Brands and names glued on purpose keep their shape.
        "Buy a PlayStation, an iPhone or a McDonald's meal on eBay.",
        "Use a B52 or an F16 with 3D maps in MP3 format.",
    ],
)
def test_ordinary_words_and_numbers_are_left_alone(text: str) -> None:
    assert tidy_text(text) == text
