"""The final answer an answer commits to, when one can be read off its words.

Two answers agree when a reader would say they give the same final answer, whatever
else each one adds. For the kinds of question where the final answer has a clear
form, that form is extracted here and compared exactly; everywhere else (advice,
explanations, names) the consensus falls back to embeddings.

The rule, in order (the first that applies wins):

1. **Option letter** — the question lists options ("(A) …", "B) …", "C. …" on their
   own lines, at least two of them): the letter after "answer is", "Answer:",
   ``\\boxed{}`` or "correct option is", an answer that opens with "(B)", or one that
   is only a letter.
2. **Number** — the question asks for a quantity ("how many", "how much", "what
   percentage", "calculate", …, or a word problem with numbers in it): the last number
   in the last ``\\boxed{}``, else after "####" or "the answer is", else the last number
   of a worked answer (three sentences or more), else the first number (in digits, or
   a word from zero to twenty) of a short one that is not in the question. Currency signs, units, percent signs
   and thousands separators are dropped, so "$1,200.00", "1200" and "1,200 dollars"
   are equal.
3. **Year** — the question asks when or in what year: the first year (1000–2100) that
   is not in the question, so "March 1889" and "1889, for the Exposition" are equal.
4. **Yes / no** — the question is a yes/no question (it starts with is, are, does,
   can, …) and the answer starts with yes or no.

Where it fails (each a known limit, tested): a number written only in words in a
worked answer; an answer that states an option's text but not its letter; a short
answer whose first number is a detail rather than the result ("In 2019 there were
3"); a yes/no answer that says "Not really" or "Absolutely" instead of yes/no; and
entities ("Paris" vs "the French capital"), which are never extracted: embeddings and
the key-fact rules judge those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class AnswerKind(StrEnum):
    LETTER = "letter"
    NUMBER = "number"
    YEAR = "year"
    YESNO = "yesno"


@dataclass(frozen=True)
class FinalAnswer:
    """What an answer commits to: its kind and a normalised value.

    ``mentions`` are the other values of that kind a short answer names besides its
    first ("built between 1994 and 1998"): another answer whose value is among them
    gives the same answer with less detail (see :func:`same_final`). Worked and marked
    answers commit to one value and mention none.
    """

    kind: AnswerKind
    value: str
    mentions: frozenset[str] = field(default=frozenset(), compare=False)


def same_final(a: FinalAnswer, b: FinalAnswer) -> bool:
    """Two final answers of one kind agree: the same value, or one answer's value is
    among the values the other (short) answer names ("1998" / "between 1994 and 1998")."""
    return a.value == b.value or a.value in b.mentions or b.value in a.mentions


_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[).:]\s+\S", re.MULTILINE)

_LETTER_PATTERNS = (
    re.compile(r"answer\s+is\s*:?\s*\**\s*\(?([A-J])\)?(?![A-Za-z])", re.IGNORECASE),
    re.compile(r"\banswer\s*:\s*\**\s*\(?([A-J])\)?(?![A-Za-z])", re.IGNORECASE),
    re.compile(r"\\boxed\{\s*\(?([A-J])\)?\s*\}"),
    re.compile(r"\bcorrect\s+(?:option|choice)\s+is\s*:?\s*\**\s*\(?([A-J])\)?(?![A-Za-z])"),
    re.compile(r"^[\s*_]*\(([A-J])\)"),  # "(B) Jupiter": the answer opens with the option
)
_LETTER_ONLY = re.compile(r"^\W*\(?([A-J])\)?(?:[.:)]|\s*$)")

_NUMERIC_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|old|long|far|tall|big|large|heavy|fast|often)\b"
    r"|\bwhat\s+(?:percentage|percent|fraction|number|amount|total|sum|value|price|cost)\b"
    r"|\b(?:calculate|compute|solve|evaluate|find\s+the)\b"
    r"|\bwhat(?:['’]s|\s+(?:is|was|will|are|were|would))\s+(?:[\w'’,-]+\s+){0,5}?"
    r"(?:total|average|sum|difference|cost|number|amount|percentage|percent|speed|weight|"
    r"price|value|profit|area|volume|distance|change|rate|score|grade|age|length|height|"
    r"depth|count|maximum|minimum|chance|probability|bill)\b"
    r"|\bwhat\s+is\s+[\d(]",
    re.IGNORECASE,
)
# "What is the most common blood type?" asks for a thing; "What is the most sticks he can
# make?" in a word problem (numbers in it) asks for a quantity.
_SUPERLATIVE_QUESTION = re.compile(
    r"\bwhat(?:['’]s|\s+(?:is|was|are|were|will|would))\s+the\s+(?:\w+\s+)?(?:most|least)\b",
    re.IGNORECASE,
)
#: A question with at least this many numbers in it is a word problem.
WORD_PROBLEM_NUMBERS = 2
_YEAR_QUESTION = re.compile(
    r"^\s*(?:when|(?:in\s+)?(?:what|which)\s+year)\b|\bwhat\s+year\b|\bin\s+which\s+year\b",
    re.IGNORECASE,
)
_POLAR_QUESTION = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|can|could|will|would|should|shall|has|have|had|"
    r"may|might|must|isn't|aren't|doesn't|don't|didn't|can't)\b",
    re.IGNORECASE,
)

_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_MARKED_NUMBER = (
    re.compile(r"####\s*(.+)"),
    re.compile(r"(?:final\s+)?answer\s+is\s*:?\s*([^\n]+)", re.IGNORECASE),
    re.compile(r"\banswer\s*:\s*([^\n]+)", re.IGNORECASE),
)
# A number: optional sign, digits with optional thousands separators, optional decimals.
# A unit may be glued on ("2600g", "156kgs", "72Mb/hour"): the number is still the value.
_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d.,]\d)(?=[^\W\d_]*(?!\w))"
    r"|(?<![\w.])-?\.\d+"
)
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2}|2100)(?!\d)")
_SENTENCE = re.compile(r"[.!?](?:\s|$)|\n")
_YES_NO = re.compile(r"^[\W_]*(yes|no)\b", re.IGNORECASE)

#: A worked answer has at least this many sentences; its last number is the result.
WORKED_SENTENCES = 3


def question_options(question: str) -> frozenset[str]:
    """The option letters the question lists ((A) … (J)); empty when it lists fewer than 2."""
    letters = frozenset(m.group(1) for m in _OPTION_LINE.finditer(question))
    return letters if len(letters) >= 2 else frozenset()


def expected_kind(question: str) -> AnswerKind | None:
    """The kind of final answer the question asks for, if it has a clear form."""
    if question_options(question):
        return AnswerKind.LETTER
    if _YEAR_QUESTION.search(question):
        return AnswerKind.YEAR
    if _NUMERIC_QUESTION.search(question):
        return AnswerKind.NUMBER
    if _SUPERLATIVE_QUESTION.search(question) and len(_numbers(question)) >= WORD_PROBLEM_NUMBERS:
        return AnswerKind.NUMBER
    if _POLAR_QUESTION.match(question):
        return AnswerKind.YESNO
    return None


def normalise_number(token: str) -> str | None:
    """ "$1,200.00" -> "1200"; "12.50" -> "12.5"; None when ``token`` is not a number."""
    cleaned = token.replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    if value.is_integer():
        return str(int(value))
    return f"{value:.10g}"


def _numbers(text: str) -> list[str]:
    found = (normalise_number(m) for m in _NUMBER.findall(text))
    return [n for n in found if n is not None]


_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def _numbers_in_order(text: str) -> list[str]:
    """Numbers in digits or as words (zero to twenty), in the order they appear."""
    found: list[tuple[int, str]] = []
    for match in _NUMBER.finditer(text):
        value = normalise_number(match.group(0))
        if value is not None:
            found.append((match.start(), value))
    found += [(m.start(), _NUMBER_WORDS[m.group(1).lower()]) for m in _NUMBER_WORD.finditer(text)]
    return [value for _, value in sorted(found)]


def _letter(text: str, options: frozenset[str]) -> str | None:
    for pattern in _LETTER_PATTERNS:
        for match in pattern.finditer(text):
            if match.group(1) in options:
                return match.group(1)
    only = _LETTER_ONLY.match(text.strip())
    if only and only.group(1) in options and len(text.strip()) <= 4:
        return only.group(1)
    return None


def _number(text: str, question: str) -> FinalAnswer | None:
    def committed(value: str) -> FinalAnswer:
        return FinalAnswer(AnswerKind.NUMBER, value)

    boxed = _BOXED.findall(text)
    if boxed:
        numbers = _numbers(boxed[-1])
        if numbers:
            return committed(numbers[-1])
    for pattern in _MARKED_NUMBER:
        marked = [m.group(1) for m in pattern.finditer(text)]
        for candidate in reversed(marked):
            numbers = _numbers(candidate)
            if numbers:
                return committed(numbers[0])
    numbers = _numbers(text)
    sentences = len([s for s in _SENTENCE.split(text.strip()) if s.strip()])
    if numbers and sentences >= WORKED_SENTENCES:
        return committed(numbers[-1])
    return _first_fresh_number(text, question)


# A date dates a claim; it is not the count or amount a question asks for: a day next to
# a month ("February 23", "23 February") and a year after a preposition or a month ("as of
# late 2020", "in 2019", "February 23, 2023").
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+(?:1[89]|20)\d\d\b)?"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+(?:1[89]|20)\d\d\b)?"
    r"|\b(?:in|as\s+of|since|until|during|late|early|mid)"
    rf"(?:\s+{_MONTH})?\s+(?:1[89]|20)\d\d\b",
    re.IGNORECASE,
)


#: Questions about a duration, which a date can answer ("since 1988").
_DURATION_QUESTION = re.compile(r"\bhow\s+(?:long|old)\b|\bhow\s+many\s+years\b", re.I)


def _first_fresh_number(text: str, question: str) -> FinalAnswer | None:
    # Dates are passed over, except where the question asks how long (a date can answer
    # it: "celebrated since 1988") or they are all the answer gives.
    undated = [] if _DURATION_QUESTION.search(question) else _numbers_in_order(_DATE.sub(" ", text))
    in_order = undated or _numbers_in_order(text)
    in_question = set(_numbers(question))
    fresh = [n for n in in_order if n not in in_question]
    if fresh:
        return FinalAnswer(AnswerKind.NUMBER, fresh[0], frozenset(fresh[1:]))
    return FinalAnswer(AnswerKind.NUMBER, in_order[0]) if in_order else None


def _year(text: str, question: str) -> FinalAnswer | None:
    in_question = set(_YEAR.findall(question))
    years = [str(y) for y in _YEAR.findall(text) if y not in in_question]
    return FinalAnswer(AnswerKind.YEAR, years[0], frozenset(years[1:])) if years else None


def extract_final(text: str, question: str) -> FinalAnswer | None:
    """The final answer ``text`` gives to ``question``, or None where none can be read."""
    kind = expected_kind(question)
    if kind is None or not text.strip():
        return None
    value: str | None
    if kind is AnswerKind.LETTER:
        value = _letter(text, question_options(question))
    elif kind is AnswerKind.NUMBER:
        return _number(text, question)
    elif kind is AnswerKind.YEAR:
        return _year(text, question)
    else:
        match = _YES_NO.match(text.strip().lstrip("*_#> "))
        value = str(match.group(1)).lower() if match else None
    return FinalAnswer(kind, value) if value is not None else None
