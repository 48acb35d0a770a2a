"""What an answer's words say, before any embedding: non-answers, hedging and key facts.

Embeddings see "The answer is 42" and "The answer is 43" as near twins, and "Paris"
and "Berlin" as the same kind of thing. These small, transparent rules pull out the
facts that decide whether two answers can agree (numbers and years, a leading
yes/no, negation, named things) and spot answers that say nothing at all.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from evals.word_lists import word_list

# Negation decides the stance only in short answers; a long one says "not" somewhere anyway.
_SHORT_ANSWER_WORDS = 30

_NAME_ONLY_WORDS = 3

# Letters of any script: "Sinéad" is one word, not "Sin" and "ad".
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’\-])*|\d[\d,]*(?:\.\d+)?")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
# (An initial's stop, "J. R. R. Tolkien", ends no sentence.)
_SENTENCE_START = re.compile(r"(?:^|(?<![\s.][^\W\d_])[.!?]\s+|\n+)\s*[\"'(\[]*([^\W\d_][\w'’\-]*)")
# "Paris is the capital…", "Obama signed…": a capitalised subject of a copula or a verb
# in the past is a name even at a sentence start, so "Paris is…" and "Berlin is…" disagree.
_NAMED_SUBJECT = re.compile(
    r"\s+(?:is|was|are|were|has|had|remains|became|wrote|won|sang|sings|made|led|\w{2,}ed)\b"
)

_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
}

_NEGATIONS = {
    "not",
    "no",
    "never",
    "none",
    "nothing",
    "nobody",
    "neither",
    "nor",
    "cannot",
    "without",
}

# Whole answers that carry no information: refusals, "no comment", "I don't know".
_NON_ANSWER = re.compile(
    r"""^\s*(?:
        i\s+have\s+no\s+comment
      | no\s+comment
      | i\s+(?:do\s+not|don'?t|don’t)\s+know(?=\s*(?:[.!,;]|$))
      | i\s*(?:'m|’m|\s+am)\s+not\s+sure(?=\s*(?:[.!,;]|$))
      | i\s+(?:am\s+)?(?:not\s+able|unable)\s+to\s+(?:answer|help|say|provide|comment)
      | i\s+(?:can\s*not|can'?t|can’t|won'?t|will\s+not)\s+
        (?:answer|help|assist|comply|provide|say|comment|do\s+that)
      | i\s*(?:'m|’m|\s+am)\s+(?:sorry|afraid)\b
      | sorry,?\s+(?:but\s+)?i
      | as\s+an\s+(?:ai|a\.i\.|language\s+model)
      | (?:there\s+is\s+)?no\s+answer
      | n/?a
      | unknown
      | nothing\s+to\s+say
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)

# An answer that opens by disclaiming what the model is or can reach ("As an AI language
# model, …", "I don't have access to real-time data …") and then turns ("However, …") to
# say something. "I'm sorry, but I couldn't find X. However, …" is not one: it says it
# has no answer, and what follows the turn is mostly about something else.
_DISCLAIMER = re.compile(
    r"""^[\W_]*(?:(?:i\s*(?:'m|’m|\s+am)\s+sorry|sorry)[,.]?\s+(?:but\s+)?)?(?:
        as\s+an\s+(?:ai|a\.i\.|language\s+model)
      | i\s+(?:do\s+not|don'?t|don’t)\s+have\s+
        (?:access|real[\s-]time|up[\s-]to[\s-]date|personal|the\s+ability|browsing|current)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# The turn opens a sentence, or is a "but" after a comma ("As an AI language model, I
# don't have real-time data, but as of 2018 the tallest building is …").
_PIVOT = re.compile(
    r"(?:(?:^|[.!?]\s+|\n\s*)(?:however|but|that\s+said|nevertheless|nonetheless|still)"
    r"|,\s*but)\b[,:]?\s*",
    re.IGNORECASE,
)
# Words after the turn that still talk to the reader, before what they say ("I can tell
# you that …", "to answer your question, …"): dropped, the rest of the sentence kept.
_META_LEAD = re.compile(
    r"\s*(?:i\s+can\s+(?:tell|assure|confirm)\s+you\s+that|to\s+answer\s+your\s+question)"
    r"\b[,:]?\s*",
    re.IGNORECASE,
)
# A sentence still about the model ("I can provide you with some general information.").
_META_SENTENCE = re.compile(
    r"\s*i\s+(?:can|could|will|would)\s+(?:provide|give|offer|share|tell)\b[^.!?\n]*"
    r"(?:[.!?]+|\n|$)",
    re.IGNORECASE,
)
#: A disclaimer's turn must leave at least this many words to count as an answer.
_MIN_BODY_WORDS = 3

_TENTATIVE_ANSWER = re.compile(
    r"\b(?:i\s+think|i\s+believe|i\s+guess|probably|maybe|perhaps|likely)\b", re.IGNORECASE
)

_HEDGES = re.compile(
    r"\b(?:may|might|could|possibly|perhaps|probably|likely|unlikely|depends|"
    r"generally|usually|typically|some|often|sometimes|no\s+evidence|not\s+necessarily|"
    r"there\s+is\s+no|there\s+are\s+no|it\s+is\s+not\s+true|myth|misconception)\b",
    re.IGNORECASE,
)

# Capitalised words that are not names even when they start a sentence.
_COMMON_CAPITALISED = word_list("common_capitalised")


@dataclass(frozen=True)
class KeyFacts:
    """The facts two answers must share to agree."""

    numbers: frozenset[str]
    stance: int  # +1 affirms, -1 denies (leading yes/no, or negation in a short answer), 0 unclear
    names: frozenset[str]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


# Scraped chat answers glue words and citation marks together: "TheHouston Astros",
# "isIdaho1.", "on April 1, 20161." (year 2016, note 1). Only these safe shapes are undone.
# A lower-case word of three letters or more glued to a name ("singerMariah Carey",
# "namedLouis") is parted too: brands glue the other way round ("PlayStation", "iPhone").
_GLUED_FUNCTION_WORD = re.compile(
    r"\b([Tt]he|[Ii]s|[Ww]as|[Aa]re|[Ww]ere|[Ii]n|[Oo]f|[Aa]t|[Bb]y|[Oo]n|[a-z]{3,}|to)"
    r"(?=[A-Z][a-z])"
)
# A number glued to the word before it ("making it4700 square feet", "in1848").
_GLUED_NUMBER = re.compile(
    r"\b(in|on|of|at|by|it|is|was|are|were|has|have|had|with|from|since|until|about|around|"
    r"approximately|over|nearly|almost)(?=\d)",
    re.I,
)
# (Not after a LaTeX command: "\sqrt2" keeps its 2.)
_NOTE_AFTER_WORD = re.compile(r"(?<![\\\w])([A-Za-z]*[a-z]{3})\d{1,2}(?=[.,;:)]|\s|$)")
_NOTE_AFTER_YEAR = re.compile(
    r"((?:\b(?:in|on|of|by|since|until|from)|\d,)\s+)(1[5-9]\d\d|20[0-2]\d)\d{1,2}(?=[.,;:)]|$)",
    re.I,
)


def tidy_text(text: str) -> str:
    """``text`` with curly apostrophes made straight, glued function words ("isIdaho")
    parted and citation marks after words and years ("Idaho1.", "in 20161.") dropped."""
    text = text.replace("’", "'").replace("‘", "'")
    text = _GLUED_FUNCTION_WORD.sub(r"\1 ", text)
    text = _GLUED_NUMBER.sub(r"\1 ", text)
    text = _NOTE_AFTER_YEAR.sub(r"\1\2", text)
    return _NOTE_AFTER_WORD.sub(r"\1", text)


def answer_body(text: str) -> str:
    """``text`` without an opening disclaimer that the answer then sets aside.

    "As an AI language model, I don't have real-time information. However, the crash
    happened on July 10, 2017." answers the question: its body is "the crash happened on
    July 10, 2017." The disclaimer is dropped only when a sentence turns from it
    ("However", "But", "That said", …) to something that is not more about the model
    itself ("I can provide some general information"); otherwise ``text`` is returned
    unchanged.
    """
    stripped = text.strip()
    disclaimer = _DISCLAIMER.match(stripped)
    if not disclaimer:
        return text
    pivot = _PIVOT.search(stripped, disclaimer.end())
    if not pivot:
        return text
    body = stripped[pivot.end() :]
    while meta := _META_LEAD.match(body) or _META_SENTENCE.match(body):
        body = body[meta.end() :]
    body = body.strip()
    return body if len(words(body)) >= _MIN_BODY_WORDS else text


def is_non_answer(text: str) -> bool:
    """True for empty text, refusals, "I have no comment", "I don't know" and the like
    (but not a disclaimer followed by an answer: see :func:`answer_body`)."""
    stripped = answer_body(text).strip().strip("\"'“”").strip()
    if not words(stripped):
        return True
    match = _NON_ANSWER.match(stripped)
    if not match:
        return False
    # "I'm not sure. I think it was shot down." still commits to an answer.
    return not _TENTATIVE_ANSWER.search(stripped[match.end() :])


def is_question_echo(text: str) -> bool:
    """True when the answer is itself a question (it echoes instead of answering)."""
    return text.strip().endswith("?")


_NEGATION_ANYWHERE = re.compile(
    r"\b(?:not|no|never|none|nothing|nobody|cannot|neither|nor)\b|n[’']t\b", re.IGNORECASE
)


# Function words that carry no claim; content words are everything else.
_STOPWORDS = word_list("stopwords")
_STEM = re.compile(r"(?:ing|edly|ed|ly|es|s)$")


def content_words(text: str, question: str = "") -> frozenset[str]:
    """The answer's content words, crudely stemmed, without the question's own words."""
    asked = {_STEM.sub("", w.lower()) for w in words(question)}
    found = set()
    for token in words(text):
        for part in re.split(r"[-'’]", token.lower()):
            stem = _STEM.sub("", part) if len(part) > 4 else part
            if len(stem) > 1 and part not in _STOPWORDS and stem not in asked:
                found.add(stem)
    return frozenset(found)


#: Two words are one when one starts with the other and they share this many letters
#: ("Zulu" / "Zulus", "Nepal" / "Nepalese", "Himalaya" / "Himalayan").
SHARED_STEM = 4
#: ... and, between content words, the ending added is at most this long ("Nepalese"):
#: "port" is not "portrait".
MAX_ENDING = 3


def same_stem(a: str, b: str) -> bool:
    """``a`` and ``b`` are one word, or one is the other with an ending added."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= SHARED_STEM and long.startswith(short)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """How much of the shorter answer's content the other one also says (containment):
    extra detail in the longer answer costs nothing, different content does. A word
    counts as said when the other says it with another ending ("Himalaya" / "Himalayan
    range", "Russia" / "the Russian Empire")."""
    if not a or not b:
        return 0.0
    return max(_share_said(a, b), _share_said(b, a))


def _share_said(these: frozenset[str], by: frozenset[str]) -> float:
    """The share of ``these`` words that ``by`` says, with these endings or others."""
    said = len(these & by)
    unmatched = [w for w in these - by if len(w) >= SHARED_STEM]
    if unmatched:
        ordered = sorted(by)
        said += sum(_said_with_other_ending(w, by, ordered) for w in unmatched)
    return said / len(these)


def _said_with_other_ending(word: str, words: frozenset[str], ordered: list[str]) -> bool:
    # A longer word that starts with ``word`` sorts right after it; a shorter one is one
    # of its prefixes.
    after = bisect.bisect_right(ordered, word)
    while after < len(ordered) and ordered[after].startswith(word):
        if len(ordered[after]) - len(word) <= MAX_ENDING:
            return True
        after += 1
    return any(
        word[:n] in words for n in range(max(SHARED_STEM, len(word) - MAX_ENDING), len(word))
    )


def is_negated(text: str) -> bool:
    """True when the answer denies or corrects something ("no", "not", "never", ...)."""
    return bool(_NEGATION_ANYWHERE.search(text))


def hedge_count(text: str) -> int:
    return len(_HEDGES.findall(text))


def _normalise_number(token: str) -> str:
    value = token.replace(",", "")
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() else repr(number)


def key_facts(text: str, question: str = "") -> KeyFacts:
    """Numbers, leading yes/no, negation and named things in ``text``.

    Anything also mentioned in the question is not a distinguishing fact.
    """
    question_words = {w.lower() for w in words(question)}
    tokens = words(text)
    lowered = [t.lower() for t in tokens]

    numbers = {_normalise_number(m) for m in _NUMBER.findall(text)}
    numbers |= {str(_NUMBER_WORDS[w]) for w in lowered if w in _NUMBER_WORDS}
    question_numbers = {_normalise_number(m) for m in _NUMBER.findall(question)}
    numbers -= question_numbers

    polarity = 0
    rest = lowered
    if lowered and lowered[0] in {"yes", "yeah", "yep", "correct", "true"}:
        polarity, rest = 1, lowered[1:]
    elif lowered and lowered[0] in {"no", "nope", "false"}:
        polarity, rest = -1, lowered[1:]
    stance = polarity
    if not stance and 0 < len(rest) <= _SHORT_ANSWER_WORDS:
        negated = any(w in _NEGATIONS or w.endswith(("n't", "n’t")) for w in rest)
        stance = -1 if negated else 1

    sentence_starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    names: set[str] = set()
    for match in _WORD.finditer(text):
        token = match.group(0)
        if not token[0].isupper():
            continue
        low = token.lower().strip("'’")
        if low in _COMMON_CAPITALISED or low in question_words:
            continue
        if low.endswith(("'s", "’s")) and low[:-2] in question_words:
            continue
        # A capital at a sentence start is grammar, not a name, unless the whole
        # answer is a name or two ("Paris.", "Donald Sutherland.").
        if (
            match.start() in sentence_starts
            and len(tokens) > _NAME_ONLY_WORDS
            and not _NAMED_SUBJECT.match(text, match.end())
        ):
            continue
        names.add(low.removesuffix("'s").removesuffix("’s"))
    return KeyFacts(frozenset(numbers), stance, frozenset(names))


def conflicts(a: KeyFacts, b: KeyFacts) -> int:
    """How many kinds of key fact the two answers contradict on (0 = none)."""
    count = 0
    # Each side states a number the other does not: 42 vs 43, 1932 vs 1937.
    if a.numbers - b.numbers and b.numbers - a.numbers:
        count += 1
    if a.stance and b.stance and a.stance != b.stance:
        count += 1
    if a.names and b.names and a.names.isdisjoint(b.names):
        count += 1
    return count
