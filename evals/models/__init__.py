"""Asking models: the panel fan-out (:mod:`~evals.models.panel`), the two clients (litellm,
:mod:`~evals.models.litellm_client`; an OpenAI-compatible server straight over HTTP,
:mod:`~evals.models.openai_compatible`), what both do the same way: retries, error kinds,
scrubbed details (:mod:`~evals.models.provider_calls`) and prices
(:mod:`~evals.models.price_list`).

Nothing is imported here: a client pulls in litellm or aiohttp, and ``quorum --help``
must not. Import the module you need. A new provider that litellm reaches needs no code;
one it does not is a new client beside these two.
"""
