"""Short-answer (NQ-style) panels with the real all-MiniLM-L6-v2 model and the shipped
calibrator: the same entity or value inside different sentences is one answer, and the
one clustering says so everywhere (pick, "N of M agree", dissent, agreement)."""

from __future__ import annotations

import pytest

from evals.consensus.calibrator import default_calibrator
from evals.consensus.decision import build_consensus
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.records import ModelAnswer

pytestmark = pytest.mark.slow


def ans(member: str, text: str) -> ModelAnswer:
    return ModelAnswer(member=member, model=member, text=text)


@pytest.mark.parametrize(
    ("question", "same", "different"),
    [
        (
            "who was president when the affordable care act was signed",
            [
                "It was Obama.",
                "Barack Obama, the 44th president, signed it into law in March 2010.",
                "President Obama signed the Affordable Care Act on March 23, 2010. It was "
                "the largest change to American health care since Medicare in 1965.",
            ],
            "George W. Bush was president when it was signed.",
        ),
        (
            "who was president when the panama canal was built",
            [
                "Theodore Roosevelt was president when the Panama Canal was completed in 1914.",
                "The Panama Canal was built during the presidency of Theodore Roosevelt, who "
                "was in office from 1901-1909.",
            ],
            "Woodrow Wilson was president when the canal opened.",
        ),
        (
            "when did the angel of the north get built",
            [
                "The Angel of the North statue was completed in 1998.",
                "The Angel of the North was built between 1994 and 1998.",
            ],
            "It was built in 2004.",
        ),
        (
            "when did the cubs win a world series",
            [
                "Cubs World Series: The Chicago Cubs won the World Series in 2016.",
                "The Chicago Cubs won the World Series in 2016, ending a 108-year drought.",
            ],
            "The Cubs last won the World Series in 1945.",
        ),
        # A disclaimer the answer then sets aside is not a non-answer.
        (
            "who won the 2018 women's royal rumble match",
            [
                "As an AI language model, I don't have up-to-date information on current "
                "events or sports. However, the 2018 Women's Royal Rumble match was won by Asuka.",
                "Asuka won the first-ever women's Royal Rumble match in 2018.",
            ],
            "Sasha Banks won the women's Royal Rumble match that year.",
        ),
        # Scraped answers: a glued word and a citation mark ("isIdaho1.").
        (
            "what us state forms the western boundary of montana",
            [
                "Idaho forms the western boundary of Montana.",
                "The US state that forms the western boundary of Montana isIdaho1.",
            ],
            "Washington forms the western boundary of Montana.",
        ),
        # A citation mark glued to a year ("20161": 2016, note 1).
        (
            "when did the not in this lifetime tour start",
            [
                "The Not in This Lifetime Tour started on April 1, 2016.",
                "The Not in This Lifetime Tour by Guns N' Roses started on April 1, 20161. "
                "It featured the classic lineup.",
            ],
            "The tour started in 2017.",
        ),
        # Curly and straight apostrophes spell one name.
        (
            "mark who won two golf majors in 1998",
            [
                "Mark O'Meara won two majors in 1998.",
                "Mark O’Meara won two golf majors in 1998: the Masters and The Open.",
            ],
            "Mark Calcavecchia won them.",
        ),
        # An answer made of the question's own words agrees with the same words.
        (
            "how do you spell padawan from star wars",
            ["Padawan.", "Padawan", "padawan"],
            "It is spelled Paddawan with two d's.",
        ),
        # A name and its adjective ("Himalaya" / "Himalayan") are one answer.
        (
            "mount everest is part of what mountain range",
            [
                "Mount Everest is part of the Himalayan mountain range.",
                "Mount Everest is part of the Himalaya mountain range.",
            ],
            "Mount Everest is part of the Andes.",
        ),
        # A disclaimer whose turn is a "but" inside its first sentence.
        (
            "what is the tallest building in the world",
            [
                "As an AI language model, I don't have access to real-time information, but "
                "as of 2018, the tallest building in the world is the Burj Khalifa in Dubai.",
                "The Burj Khalifa in Dubai is the tallest building in the world.",
            ],
            "The Shanghai Tower is the tallest building in the world.",
        ),
    ],
)
def test_the_same_answer_in_other_words_is_one_cluster_and_the_other_dissents(
    real_embedder: SentenceTransformerEmbedder, question: str, same: list[str], different: str
) -> None:
    answers = [ans(f"model-{i}", text) for i, text in enumerate(same)] + [ans("other", different)]
    result = build_consensus(answers, real_embedder, default_calibrator(), question=question)
    assert result.model != "other"
    assert result.support == len(same)
    assert result.dissenters == ("other",)
    assert sorted(result.clusters, key=len) == [
        ("other",),
        tuple(f"model-{i}" for i in range(len(same))),
    ]
    assert result.agreement["other"] < 0.5
    assert all(result.agreement[f"model-{i}"] >= 0.5 for i in range(len(same)))


@pytest.mark.parametrize(
    ("question", "a", "b"),
    [
        # Made of the question's words in another order: the bag of words is the same,
        # the answer is not.
        (
            "Which is denser, water vapor or air?",
            "Air is denser than water vapor.",
            "Water vapor is denser than air.",
        ),
        (
            "Do Canadians work less hours than Mexicans?",
            "Canadians work less hours than Mexicans.",
            "Canadians work more hours than Mexicans.",
        ),
    ],
)
def test_the_question_s_words_in_another_order_are_another_answer(
    real_embedder: SentenceTransformerEmbedder, question: str, a: str, b: str
) -> None:
    result = build_consensus(
        [ans("a", a), ans("b", b)], real_embedder, default_calibrator(), question=question
    )
    assert len(result.clusters) == 2
