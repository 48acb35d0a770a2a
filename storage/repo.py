"""The repository: every function the bot calls to read and write production data.

Functions take a Session from ``Database.session()`` and return records from
:mod:`storage.records`. Implementations live in small modules by concept.
"""

from storage.labels_repo import production_labels
from storage.panel_runs_repo import (
    DuplicateDeliveryError,
    add_shadow_answers,
    cost_since,
    get_run,
    get_run_by_delivery,
    get_run_by_message,
    model_stats,
    run_workspace,
    save_panel_run,
    set_answer_message,
    set_run_message,
)
from storage.signals_repo import (
    best_answer_votes,
    claim_delivery,
    corrections_for_run,
    prune_deliveries,
    record_correction,
    record_signal,
    record_vote,
    retract_signal,
    signals_for_run,
)

__all__ = [
    "DuplicateDeliveryError",
    "add_shadow_answers",
    "best_answer_votes",
    "claim_delivery",
    "corrections_for_run",
    "cost_since",
    "get_run",
    "get_run_by_delivery",
    "get_run_by_message",
    "model_stats",
    "production_labels",
    "prune_deliveries",
    "record_correction",
    "record_signal",
    "record_vote",
    "retract_signal",
    "run_workspace",
    "save_panel_run",
    "set_answer_message",
    "set_run_message",
    "signals_for_run",
]
