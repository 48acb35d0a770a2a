"""Which confidence calibrator this process serves, and the weekly refit that may
replace it.

The refit runs once per period (claimed in the database like every job) from production
👍/👎 and corrections; a better calibrator is stored and made active, and every process
picks the active one up (:func:`refresh_calibrator`, on a timer).
"""

from __future__ import annotations

import json
import logging

from bot.runtime.services import Services
from bot.schedule.cron import process_owner
from evals.consensus.calibrator import Calibrator
from evals.consensus.refit import Label, RefitResult, refit_calibrator
from evals.errors import CalibrationError
from storage import job_repo
from storage.labels_repo import production_labels

log = logging.getLogger("quorum.jobs")

JOB_REFIT = "refit"


def min_labels(services: Services) -> int:
    value = services.config.consensus.refit_min_labels
    return int(value)


def _calibrator_source(services: Services) -> str:
    if services.settings.quorum_calibrator or services.config.consensus.calibrator:
        return "file"
    return "shipped"


def compatible_ids(services: Services, current: Calibrator) -> set[str]:
    """Calibrators whose answer model is the current one's: their runs' features (the
    pick's score) mean the same, so their labels can train the current one."""
    ids = {current.id}
    for stored in job_repo.calibrators(services.db):
        try:
            other = Calibrator.from_dict(json.loads(stored.json))
        except (ValueError, CalibrationError):
            continue
        if other.answer_model == current.answer_model:
            ids.add(stored.id)
    return ids


def refit_job(services: Services, *, workspace: str, period: str) -> RefitResult | None:
    """Refit the calibrator from ``workspace``'s production labels, once per period; None
    if another process did it. A better calibrator is stored, made active and served at
    once."""
    now = services.clock.now()
    ws = workspace
    if not job_repo.claim_period(
        services.db, JOB_REFIT, period, workspace=ws, now=now, owner=process_owner()
    ):
        return None
    try:
        current = services.calibrator
        if job_repo.active_calibrator(services.db) is None:
            job_repo.save_calibrator(
                services.db,
                calibrator_id=current.id,
                json_text=current.to_json(),
                created_at=now,
                source=_calibrator_source(services),
                n_labels=0,
                metrics={},
                active=True,
            )
        usable = compatible_ids(services, current)
        with services.db.session() as session:
            labels = [
                Label(dict(label.features), label.correct, label.created_at, label.agreeing)
                for label in production_labels(session, workspace=ws)
                if label.calibrator_id in usable
            ]
        result = refit_calibrator(current, labels, now=now, min_labels=min_labels(services))
        if result.refitted:
            job_repo.save_calibrator(
                services.db,
                calibrator_id=result.calibrator.id,
                json_text=result.calibrator.to_json(),
                created_at=now,
                source="refit",
                n_labels=result.n_labels,
                metrics=result.metrics(),
                active=True,
            )
            services.calibrator = result.calibrator
        detail = {
            "refitted": result.refitted,
            "reason": result.reason,
            "calibrator_id": result.calibrator.id,
            **result.metrics(),
        }
        job_repo.mark_done(
            services.db, JOB_REFIT, period, workspace=ws, now=now, detail=json.dumps(detail)
        )
        return result
    except Exception as exc:
        job_repo.mark_failed(
            services.db, JOB_REFIT, period, workspace=ws, now=now, detail=str(exc)[:500]
        )
        log.error("calibrator refit for %s failed", period, exc_info=True)
        return None


def refresh_calibrator(services: Services) -> bool:
    """Serve the active stored calibrator if another process refitted it; True if swapped."""
    stored = job_repo.active_calibrator(services.db)
    if stored is None or stored.id == services.calibrator.id:
        return False
    loaded = load_active_calibrator(services)
    if loaded is None:
        return False
    log.info("now serving calibrator %s (was %s)", loaded.id, services.calibrator.id)
    services.calibrator = loaded
    return True


def load_active_calibrator(services: Services) -> Calibrator | None:
    """The calibrator the last refit made active (for process start), if any."""
    stored = job_repo.active_calibrator(services.db)
    if stored is None:
        return None
    try:
        return Calibrator.from_dict(json.loads(stored.json), where=f"stored calibrator {stored.id}")
    except (ValueError, CalibrationError):
        log.error("the stored calibrator %s cannot be read; using the configured one", stored.id)
        return None


def use_active_calibrator(services: Services) -> None:
    """Serve the calibrator the last production refit made active, when there is one
    (call after the schema is in place)."""
    services.calibrator = load_active_calibrator(services) or services.calibrator
