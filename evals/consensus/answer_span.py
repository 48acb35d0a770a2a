"""The part of an answer that answers the question: its first claim, without the echo.

Free-text answers to the same question often name the same thing inside different
sentences ("It was Obama." / "Barack Obama, the 44th president, signed it.") and add
different details after it (dates, places, a second sentence of background). A reader
judges agreement on the *answer span*: the thing the answer puts forward in its first
sentence, relative to the question (words the question already says are not part of
it; titles, articles and possessives are dropped). So, for answers with no final
answer of a clear form (:mod:`evals.consensus.final_answer`):

* two spans that name the same thing agree on it, whatever else either answer adds
  (details that differ later are not a disagreement);
* two spans that name different things are left to the other rules: a first sentence
  often sets the scene with other names before it gives the answer.

Where it fails (known limits, tested): aliases that share no word ("JFK" / "John F.
Kennedy", "the Big Apple" / "New York"); answers whose first sentence only restates the
question and names the answer later; spans that name two things where another answer
names only one of them agree on that one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evals.consensus.wording import content_words, key_facts, same_stem, words
from evals.word_lists import word_list

#: A heading that opens an answer ("Panama Canal President: Theodore Roosevelt ...") is
#: dropped when at least this share of its words are the question's own words.
ECHO_SHARE = 0.6
#: Headings longer than this many words are a sentence, not a heading.
_HEADING_WORDS = 10

_HEADING = re.compile(r"^\s*[*_#>\s]*([^\n:]{1,120}?)[*_]*:[*_]*\s+(?=\S)")
# A sentence ends at . ! ? followed by space and a capital/digit/quote, or at a line
# break; "J. R. R. Tolkien", "U.S. Army" and "Dr. Who" do not end one (a single letter or
# a short abbreviation before the stop).
_SENTENCE_END = re.compile(
    r"(?<![\s.(][A-Za-z])(?<!\b(?:Dr|Mr|Ms|St|Jr|Sr|vs|No|Mt|Co))(?<!\bMrs)[.!?]"
    r"[\"')\]]*(?=\s+[\"'(\[]*[A-Z0-9])|\n"
)
#: Titles and honorifics: "President Obama" and "Barack Obama" name the same person.
TITLES = word_list("titles")
#: Months and days date a claim; they are not the thing it names.
CALENDAR = word_list("calendar")
_STOPWORDS = word_list("stopwords")


@dataclass(frozen=True)
class AnswerSpan:
    """What an answer's first claim puts forward: the names in it and its content words."""

    names: frozenset[str]
    content: frozenset[str]


def _title_case(text: str) -> bool:
    """Every word of ``text`` but the small function words starts with a capital."""
    return all(
        w[0].isupper() for w in words(text) if w[0].isalpha() and w.lower() not in _STOPWORDS
    )


def strip_heading_echo(text: str, question: str) -> str:
    """``text`` without a heading that repeats the question ("Cubs World Series: The
    Chicago Cubs won ..." -> "The Chicago Cubs won ..."); unchanged otherwise."""
    match = _HEADING.match(text)
    if not match:
        return text
    heading = [w.lower() for w in words(match.group(1))]
    if not heading or len(heading) > _HEADING_WORDS:
        return text
    asked = {w.lower() for w in words(question)}
    echoed = sum(1 for w in heading if w in asked or w.rstrip("s") in asked)
    if echoed / len(heading) < ECHO_SHARE:
        return text
    # A sentence (not in Title Case) before the colon that names something the question
    # does not is the answer itself ("Mark O'Meara won two golf majors in 1998: the
    # Masters and The Open"); in a Title Case heading every word looks like a name.
    if not _title_case(match.group(1)) and (
        key_facts(match.group(1), question).names - TITLES - CALENDAR
    ):
        return text
    return text[match.end() :]


def first_sentence(text: str) -> str:
    """The first sentence (or line) of ``text``, stripped."""
    stripped = " " + text.strip()  # the space lets an opening initial ("J. R. R.") be seen
    match = _SENTENCE_END.search(stripped)
    return (stripped[: match.start() + 1] if match else stripped).strip()


def answer_span(text: str, question: str) -> AnswerSpan:
    """The names and content words of the first claim of ``text`` that the question
    does not already say (titles dropped)."""
    sentence = first_sentence(strip_heading_echo(text, question))
    names = frozenset(
        n
        for n in key_facts(sentence, question).names
        if n not in TITLES and n not in CALENDAR and len(n) > 1
    )
    return AnswerSpan(names, content_words(sentence, question) - TITLES)


def same_entity(a: AnswerSpan, b: AnswerSpan) -> bool | None:
    """True when both spans name something and share a name (or its plural or adjective);
    False when both name something and share nothing; None when either names nothing.

    Only True is acted on: a first sentence often sets the scene with other names before
    the answer ("In 1842 the Treaty of Nanking, which ended the First Opium War, ceded
    Hong Kong"), so names that differ there are no evidence of a different answer."""
    if not a.names or not b.names:
        return None
    return any(same_stem(x, y) for x in a.names for y in b.names)
