"""Split answers into pieces the embedder reads whole.

The embedder silently cuts everything after its token window (256 word pieces for
all-MiniLM-L6-v2). Answers are split at sentence boundaries into chunks that fit a
token budget; a sentence longer than the budget is split by words. Consensus then
compares answers chunk by chunk, so a difference late in a long answer still counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import numpy.typing as npt

from evals.protocols import Embedder

#: Chunks embedded per call when a whole file of panels is embedded up front.
BATCH_CHUNKS = 1024

# Sentence ends: . ! ? (optionally followed by quotes/brackets) then whitespace, or newlines.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")

#: Word pieces reserved for the special tokens the model adds around each input.
SPECIAL_TOKENS = 2
#: Chunks are kept well under the window: finer pieces compare facts more sharply.
DEFAULT_CHUNK_TOKENS = 128


def split_sentences(text: str) -> list[str]:
    """Sentences (or list items) of ``text``, stripped, without empty ones."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _split_long(sentence: str, embedder: Embedder, budget: int) -> list[str]:
    """Split one over-long sentence into word runs of at most ``budget`` tokens."""
    pieces: list[str] = []
    current: list[str] = []
    current_tokens = 0
    for word in sentence.split():
        n = embedder.count_tokens(word)
        if current and current_tokens + n > budget:
            pieces.append(" ".join(current))
            current, current_tokens = [], 0
        current.append(word)
        current_tokens += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def chunk_text(text: str, embedder: Embedder, max_chunk_tokens: int | None = None) -> list[str]:
    """Chunks of whole sentences, each within the embedder's window (and the budget).

    Short text (within the budget) comes back as one chunk, unchanged; empty text as
    ``[""]`` so every answer has at least one vector.
    """
    window = max(1, embedder.max_tokens - SPECIAL_TOKENS)
    budget = min(window, max_chunk_tokens or DEFAULT_CHUNK_TOKENS)
    stripped = text.strip()
    if not stripped:
        return [""]
    if embedder.count_tokens(stripped) <= budget:
        return [stripped]

    chunks: list[str] = []
    current: list[str] = []
    current_tokens = 0
    for sentence in split_sentences(stripped):
        n = embedder.count_tokens(sentence)
        pieces = [sentence] if n <= budget else _split_long(sentence, embedder, budget)
        for piece in pieces:
            piece_tokens = n if len(pieces) == 1 else embedder.count_tokens(piece)
            # +1: joining with a space can merge word pieces differently at the seam.
            if current and current_tokens + piece_tokens + 1 > budget:
                chunks.append(" ".join(current))
                current, current_tokens = [], 0
            current.append(piece)
            current_tokens += piece_tokens + (1 if len(current) > 1 else 0)
    if current:
        chunks.append(" ".join(current))
    return chunks


def embed_chunks(
    embedder: Embedder,
    texts: Iterable[str],
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH_CHUNKS,
) -> Mapping[str, npt.NDArray[np.float32]]:
    """Every chunk of every text embedded once, in large batches: chunk -> unit vector.

    This is how a file of panels is scored quickly: one pass over all chunks (the
    embedder sorts each batch by length), then each panel only looks its vectors up.
    ``progress`` hears ``(chunks done, chunks in all)`` after each batch.
    """
    chunks = list(dict.fromkeys(c for text in texts for c in chunk_text(text, embedder)))
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        vectors.update(zip(part, embedder.embed(part), strict=True))
        if progress is not None:
            progress(min(start + batch, len(chunks)), len(chunks))
    return vectors
