"""The weekly digest as data: what storage gathered for the week
(:mod:`~evals.digest.week_data`), what the week's numbers say, in sections
(:mod:`~evals.digest.sections`), and the best-answer preference ranking it shows
(:mod:`~evals.digest.preference`). Queried by :mod:`storage.digest_queries`, put into
Block Kit by :mod:`bot.messages.digest`, sent by :mod:`bot.schedule.jobs`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.lazy_exports import exported

if TYPE_CHECKING:
    from evals.digest.preference import PreferenceScore, bradley_terry
    from evals.digest.sections import Digest, build_digest
    from evals.digest.week_data import DigestData

_MODULES = {
    "preference": ("PreferenceScore", "bradley_terry"),
    "sections": ("Digest", "build_digest"),
    "week_data": ("DigestData",),
}

__all__ = ["Digest", "DigestData", "PreferenceScore", "bradley_terry", "build_digest"]


def __getattr__(name: str) -> object:
    return exported(__name__, name, _MODULES)
