"""Sentence embeddings: the sentence-transformers adapter
(:mod:`~evals.embedding.sentence_embedder`, the only module that imports it), a plain
BERT encoder for inference (:mod:`~evals.embedding.bert_encoder`) and the chunking that
keeps long answers from being cut at 256 word pieces (:mod:`~evals.embedding.chunking`).

Nothing is imported here: the adapters pull in torch, and ``quorum --help`` must not.
Import the module you need.
"""
