"""Services and a seeded week of production and eval data for the digest/scheduler tests.

The numbers are chosen so every section of the digest has something to assert:

- 6 questions in the week to Monday 23 Nov 2026 09:00 Berlin (08:00 UTC);
- 👍/👎: alpha 2/6 (33%), beta 4/5 (80%), gamma 5/5 (100%);
- eval (20 cases): alpha 10 → 20 (+50 pts, real), beta 18 → 17 (within noise, one
  regression: case c17), gamma 14 → 14; shadow "candidate" 16;
- so eval ranks alpha > beta > gamma and 👍 ranks gamma > beta > alpha: ρ = −1;
- calibration labels: 4 at 0.9 (2 right), 2 at 0.3 (1 right): ECE 1/3;
- best-answer votes: alpha 2, gamma 1; one correction ("outdated", a new failure mode);
- shadow "candidate" agreements 0.9, 0.2, 0.8, 0.4 on runs 1..4;
- 2 proposed cases awaiting review.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bot.runtime.config import parse_config
from bot.runtime.services import Services
from bot.runtime.settings import Settings
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseStatus, EvalCase, FailureMode, Severity
from evals.consensus.calibrator import Calibrator, LinearModel
from evals.consensus.features import ANSWER_FEATURES, PANEL_FEATURES
from evals.records import (
    ChatMessage,
    Consensus,
    ConsensusStatus,
    ModelAnswer,
    PanelMember,
    PanelRun,
)
from storage import case_repo
from storage.db import Database
from storage.panel_runs_repo import add_shadow_answers, get_run, save_panel_run
from storage.records import CorrectionSource, RunOrigin, SignalKind, SignalSource
from storage.signals_repo import record_correction, record_signal, record_vote
from storage.tables.eval_runs import EvalResultRow, EvalRunRow
from tests.fakes.slack_requests import TEAM_ID

#: Monday 23 Nov 2026, 09:00 in Berlin: the default digest firing.
DIGEST_FIRE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
#: Sunday 22 Nov 2026, 22:00 in Berlin: the default benchmark firing.
BENCHMARK_FIRE = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
DIGEST_CHANNEL = "CDIGEST01"
PANEL = ("alpha", "beta", "gamma")
SHADOW = "candidate"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class ScriptedClient:
    """A ModelClient answering from a per-member script (and recording each call)."""

    def __init__(self, replies: dict[str, str] | None = None, *, cost: float = 0.003) -> None:
        self.replies = replies or {}
        self.cost = cost
        self.calls: list[tuple[str, tuple[ChatMessage, ...]]] = []

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        self.calls.append((member.name, tuple(messages)))
        return ModelAnswer(
            member=member.name,
            model=member.model,
            text=self.replies.get(member.name, f"{member.name} says 42."),
            latency_ms=640,
            cost_usd=self.cost,
        )


class WordEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are similar."""

    name = "words-test"
    max_tokens = 256
    dims = 512

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str]) -> Any:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, zlib.crc32(word.encode()) % self.dims] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out


def seed_calibrator() -> Calibrator:
    def linear(features: tuple[str, ...], coef: dict[str, float]) -> LinearModel:
        return LinearModel(
            features=features,
            mean=tuple(0.5 for _ in features),
            scale=tuple(0.25 for _ in features),
            coef=tuple(coef.get(f, 0.0) for f in features),
            intercept=0.5,
        )

    return Calibrator(
        linear(ANSWER_FEATURES, {"support": 1.0}),
        linear(PANEL_FEATURES, {"pick_cluster_share": 1.5}),
        {"data_file": "test"},
    )


def config_data(**schedule: Any) -> dict[str, Any]:
    def entry(name: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {"model": f"openai/{name}", "api_key": "sk-test"},
        }

    return {
        "panel": [entry(n) for n in PANEL],
        "shadow": [entry(SHADOW)],
        "schedule": {"timezone": "Europe/Berlin", **schedule},
        "slack": {"digest_channel": DIGEST_CHANNEL},
    }


def make_services(
    db: Database,
    *,
    slack_url: str = "http://127.0.0.1:9/api/",
    now: datetime = DIGEST_FIRE,
    client: ScriptedClient | None = None,
    embedder: Any = None,
    **schedule: Any,
) -> Services:
    config = parse_config(config_data(**schedule))
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-test-token",
        slack_api_url=slack_url,
        database_url=db.url.render_as_string(hide_password=False),
    )
    return Services(
        settings=settings,
        config=config,
        members=config.panel_members(),
        shadow=config.shadow_members(),
        client=client or ScriptedClient(),
        embedder=embedder,
        calibrator=seed_calibrator(),
        db=db,
        clock=FakeClock(now),
    )


# -- seeding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    run_ids: list[int]
    answer_ids: list[dict[str, int]]  # per run: member -> answer id


def _answers(i: int) -> tuple[ModelAnswer, ...]:
    spec = {"alpha": (1000, 0.002), "beta": (3000, 0.001), "gamma": (2000, None)}
    return tuple(
        ModelAnswer(
            member=m,
            model=f"openai/{m}",
            text=f"{m} answer {i}",
            latency_ms=lat,
            cost_usd=cost,
        )
        for m, (lat, cost) in spec.items()
    )


def _consensus(member: str, confidence: float) -> Consensus:
    return Consensus(
        status=ConsensusStatus.OK,
        model=member,
        text=f"{member} answer",
        confidence=confidence,
        raw_confidence=confidence,
        clusters=(PANEL,),
        agreement={m: 0.9 for m in PANEL},
        dissenters=(),
        features={
            "pick_logit": 1.0,
            "pick_cluster_share": confidence,
            "cluster_entropy": 0.1,
            "informative_fraction": 1.0,
        },
        calibrator=seed_calibrator().id,
    )


def seed_production(
    db: Database, *, week_end: datetime = DIGEST_FIRE, workspace: str = TEAM_ID, label: str = ""
) -> Seeded:
    """A week of production data of ``workspace``; ``label`` starts every question (and
    case id), so two workspaces' digests can be told apart."""
    t0 = week_end - timedelta(days=5)
    consensus_of = ["alpha", "alpha", "alpha", "alpha", "beta", "beta"]
    confidence_of = [0.9, 0.9, 0.9, 0.9, 0.3, 0.3]
    run_ids: list[int] = []
    answer_ids: list[dict[str, int]] = []
    with db.session() as s:
        for i in range(6):
            started = t0 + timedelta(hours=i)
            run = PanelRun(
                question=f"{label}Question {i}: how do we rotate the <!channel> keys?",
                answers=_answers(i),
                started_at=started,
                finished_at=started + timedelta(seconds=3),
            )
            run_id = save_panel_run(
                s,
                run,
                _consensus(consensus_of[i], confidence_of[i]),
                origin=RunOrigin.SLACK,
                requester="U1",
                config_hash="h",
                channel_id="CASK",
                message_ts=f"1790000000.00010{i}",
                workspace=workspace,
            )
            record = get_run(s, run_id, workspace=workspace)
            assert record is not None
            run_ids.append(run_id)
            answer_ids.append({a.member: a.id for a in record.answers})
        at = t0 + timedelta(days=1)

        def signal(i: int, kind: SignalKind, user: str, member: str | None = None) -> None:
            record_signal(
                s,
                run_id=run_ids[i],
                user_id=user,
                kind=kind,
                source=SignalSource.REACTION,
                answer_id=answer_ids[i][member] if member else None,
                at=at,
                workspace=workspace,
            )

        up, down = SignalKind.UP, SignalKind.DOWN
        # On the result message (the consensus served): labels for calibration.
        for i, kind in enumerate([up, up, down, down, up, down]):
            signal(i, kind, "U1")
        # On single answers.
        signal(4, down, "U2", "alpha")
        signal(5, down, "U2", "alpha")
        for i in (0, 1, 2):
            signal(i, up, "U3", "beta")
        for i in range(5):
            signal(i, up, "U4", "gamma")
        record_correction(
            s,
            run_id=run_ids[3],
            user_id="U6",
            correct_answer="Rotate them with the vault CLI since 2026.",
            failure_mode=FailureMode.OUTDATED,
            severity=Severity.MEDIUM,
            source=CorrectionSource.MODAL,
            at=at,
            workspace=workspace,
        )
        for i, member in [(0, "alpha"), (1, "alpha"), (2, "gamma")]:
            record_vote(
                s,
                run_id=run_ids[i],
                answer_id=answer_ids[i][member],
                user_id="U5",
                at=at,
                workspace=workspace,
            )
        for i, agreement in enumerate([0.9, 0.2, 0.8, 0.4]):
            add_shadow_answers(
                s,
                run_ids[i],
                [
                    ModelAnswer(
                        member=SHADOW,
                        model=f"openai/{SHADOW}",
                        text=f"candidate answer {i}",
                        latency_ms=500,
                        cost_usd=0.004,
                    )
                ],
                {SHADOW: agreement},
                at=at,
                workspace=workspace,
            )
        case_repo.add_cases(
            s,
            [
                redacted(
                    EvalCase(
                        id=f"{label.strip().lower()}prop-{i}",
                        input=CaseInput(question=f"{label}Proposed question {i}?"),
                        status=CaseStatus.PROPOSED,
                        created_at=at,
                        updated_at=at,
                    )
                )
                for i in range(2)
            ],
            actor="U6",
            now=at,
            workspace=workspace,
        )
    return Seeded(run_ids, answer_ids)


def seed_eval_run(
    db: Database,
    started_at: datetime,
    passing: dict[str, int],
    *,
    cases: int = 20,
    workspace: str = TEAM_ID,
) -> int:
    """A complete eval run of ``workspace``: model -> how many of ``cases`` cases passed
    (1 sample each)."""
    with db.session() as s:
        run = EvalRunRow(
            workspace_id=workspace,
            status="complete",
            status_reason="",
            case_set="all",
            dataset_version="v1",
            started_at=started_at,
            finished_at=started_at + timedelta(minutes=20),
            total_cost_usd=0.5,
            sample_total=cases * len(passing),
            record={"models": [{"name": m} for m in passing], "filters": {}},
            cases=[],
        )
        s.add(run)
        s.flush()
        for model, n_pass in passing.items():
            for c in range(cases):
                ok = c < n_pass
                s.add(
                    EvalResultRow(
                        workspace_id=workspace,
                        run_id=run.id,
                        case_id=f"c{c:02d}",
                        model=model,
                        sample=0,
                        text="...",
                        passed=ok,
                        checks=[],
                        verdict=None,
                        failure_mode=None if ok else "wrong_fact",
                        latency_ms=100,
                        created_at=started_at,
                    )
                )
        return run.id


def seed_evals(db: Database, benchmark_at: datetime = BENCHMARK_FIRE) -> None:
    seed_eval_run(db, benchmark_at - timedelta(days=7), {"alpha": 10, "beta": 18, "gamma": 14})
    seed_eval_run(db, benchmark_at, {"alpha": 20, "beta": 17, "gamma": 14, SHADOW: 16})
