"""Which confidence calibrator this process serves, and the weekly refit that may
replace it.

The refit runs once per period and workspace (claimed in the database like every job)
from that workspace's production 👍/👎 and corrections; a better calibrator is stored as
that workspace's and made active, and every process picks the active ones up
(:func:`refresh_calibrator`, on a timer). A workspace without one of its own is served
the configured calibrator (quorum.yaml, else the shipped one).
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


def compatible_ids(services: Services, current: Calibrator, workspace: str) -> set[str]:
    """``workspace``'s calibrators whose answer model is the current one's: their runs'
    features (the pick's score) mean the same, so their labels can train the current one."""
    ids = {current.id}
    for stored in job_repo.calibrators(services.db, workspace=workspace):
        try:
            other = Calibrator.from_dict(json.loads(stored.json))
        except (ValueError, CalibrationError):
            continue
        if other.answer_model == current.answer_model:
            ids.add(stored.id)
    return ids


def refit_job(services: Services, *, workspace: str, period: str) -> RefitResult | None:
    """Refit ``workspace``'s calibrator from its own production labels, once per period;
    None if another process did it. A better calibrator is stored as the workspace's,
    made active and served to it at once; other workspaces keep theirs."""
    now = services.clock.now()
    ws = workspace
    if not job_repo.claim_period(
        services.db, JOB_REFIT, period, workspace=ws, now=now, owner=process_owner()
    ):
        return None
    try:
        current = services.calibrator_for(ws)
        if job_repo.active_calibrator(services.db, workspace=ws) is None:
            job_repo.save_calibrator(
                services.db,
                workspace=ws,
                calibrator_id=current.id,
                json_text=current.to_json(),
                created_at=now,
                source=_calibrator_source(services),
                n_labels=0,
                metrics={},
                active=True,
            )
        usable = compatible_ids(services, current, ws)
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
                workspace=ws,
                calibrator_id=result.calibrator.id,
                json_text=result.calibrator.to_json(),
                created_at=now,
                source="refit",
                n_labels=result.n_labels,
                metrics=result.metrics(),
                active=True,
            )
            services.calibrators[ws] = result.calibrator
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
        log.error("calibrator refit for %s of %s failed", period, ws, exc_info=True)
        return None


def _loaded(stored: job_repo.StoredCalibrator) -> Calibrator | None:
    try:
        return Calibrator.from_dict(
            json.loads(stored.json), where=f"stored calibrator {stored.id} of {stored.workspace}"
        )
    except (ValueError, CalibrationError):
        log.error(
            "the stored calibrator %s of %s cannot be read; using the configured one",
            stored.id,
            stored.workspace,
        )
        return None


def refresh_calibrator(services: Services) -> bool:
    """Serve each workspace the active stored calibrator another process refitted; True if
    any was swapped."""
    swapped = False
    for workspace, stored in job_repo.active_calibrators(services.db).items():
        if stored.id == services.calibrator_for(workspace).id:
            continue
        loaded = _loaded(stored)
        if loaded is None:
            continue
        log.info(
            "now serving calibrator %s to %s (was %s)",
            loaded.id,
            workspace,
            services.calibrator_for(workspace).id,
        )
        services.calibrators[workspace] = loaded
        swapped = True
    return swapped


def load_active_calibrator(services: Services, workspace: str) -> Calibrator | None:
    """The calibrator ``workspace``'s last refit made active, if any."""
    stored = job_repo.active_calibrator(services.db, workspace=workspace)
    return _loaded(stored) if stored is not None else None


def use_active_calibrator(services: Services) -> None:
    """Serve each workspace the calibrator its last production refit made active, where
    there is one (call after the schema is in place)."""
    for workspace, stored in job_repo.active_calibrators(services.db).items():
        loaded = _loaded(stored)
        if loaded is not None:
            services.calibrators[workspace] = loaded
