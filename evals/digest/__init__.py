"""The weekly digest as data (:mod:`~evals.digest.sections`: what the week"s numbers say,
in sections) and the best-answer preference ranking it shows
(:mod:`~evals.digest.preference`). Queried by :mod:`storage.digest_queries`, put into
Block Kit by :mod:`bot.messages.digest`, sent by :mod:`bot.schedule.jobs`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evals.lazy_exports import exported

if TYPE_CHECKING:
    from evals.digest.preference import PreferenceScore, bradley_terry
    from evals.digest.sections import Digest, DigestData, build_digest

_MODULES = {
    "preference": ("PreferenceScore", "bradley_terry"),
    "sections": ("Digest", "DigestData", "build_digest"),
}

__all__ = ["Digest", "DigestData", "PreferenceScore", "bradley_terry", "build_digest"]


def __getattr__(name: str) -> object:
    return exported(__name__, name, _MODULES)
