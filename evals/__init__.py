"""Quorum's domain: asking a panel, the consensus, cases, scoring, eval runs, the digest.

Pure Python over small Protocols (:mod:`evals.protocols`). Imports neither ``bot`` nor
``storage``. Only two adapters touch vendors: :mod:`evals.models.litellm_client` and
:mod:`evals.embedding.sentence_embedder`.

==========================  ==========================================================
``evals.records``           panel members, answers, panel runs, consensus results
``evals.protocols``         the seams: ModelClient, Embedder, Clock
``evals.errors``            the error taxonomy and which messages a user may see
``evals.models``            asking models: the panel fan-out, both clients, retries, prices
``evals.embedding``         sentence embeddings, chunking long answers
``evals.consensus``         agreement, final answers, features, the calibrated confidence
``evals.cases``             the eval case schema, sets, file formats, assertions, redaction
``evals.scorers``           the Scorer registry, rule checks, the LLM judge
``evals.runs``              an eval run: runner, report, Markdown/JSON/HTML rendering
``evals.digest``            the weekly digest as data, best-answer preference
``evals.stats``             intervals, pass@k, paired tests, correlation
==========================  ==========================================================
"""

__version__ = "0.1.0"
