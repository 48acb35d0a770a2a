"""Which models a benchmark runs, and the judge that grades them (from quorum.yaml)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bot.runtime.adapters import NoModelCalls
from bot.runtime.config import QuorumConfig, resolve_params, to_member
from evals.errors import ConfigError
from evals.models.openai_compatible import OpenAICompatibleClient
from evals.protocols import ModelClient
from evals.records import PanelMember
from evals.scorers.judge import DEFAULT_RUBRIC, RUBRIC_VERSION, Judge


def select_members(config: QuorumConfig, names: Sequence[str]) -> list[PanelMember]:
    """Panel + shadow by default; with names, exactly those (config names or litellm strings)."""
    known = {m.name: m for m in config.panel_members() + config.shadow_members()}
    if not names:
        return list(known.values())
    out_: list[PanelMember] = []
    for name in names:
        if name in known:
            out_.append(known[name])
        elif "/" in name:
            out_.append(
                PanelMember(
                    name=name,
                    model=name,
                    temperature=config.consensus.temperature,
                    max_tokens=config.consensus.max_tokens,
                )
            )
        else:
            raise ConfigError(
                f"--models: unknown model {name!r}. Use a model_name from quorum.yaml "
                f"({', '.join(known)}) or a litellm model string such as openai/gpt-4o-mini."
            )
    if len({m.name for m in out_}) != len(out_):
        raise ConfigError("--models: a model is listed twice")
    return out_


def build_judge(
    config: QuorumConfig, client: ModelClient, members: Sequence[PanelMember]
) -> Judge | None:
    """The judge from quorum.yaml's ``judge:`` section; None when there is none."""
    jc = config.judge
    if jc is None:
        return None
    if jc.litellm_params is not None:
        params = resolve_params(jc.litellm_params, "judge")
        model = params.pop("model")
        params.pop("timeout", None)
        member = PanelMember(name=jc.model_name, model=model, params=params)
    else:
        entries = {e.model_name: e for e in config.panel + config.shadow}
        if jc.model_name not in entries:
            raise ConfigError(
                f"judge.model_name {jc.model_name!r} is not a panel or shadow model; "
                "name one of them or give the judge its own litellm_params"
            )
        member = to_member(entries[jc.model_name], config.consensus)
    member = replace(member, temperature=jc.temperature, timeout_s=jc.timeout)
    if jc.rubric == "default":
        rubric, version = DEFAULT_RUBRIC, RUBRIC_VERSION
    else:
        path = Path(jc.rubric)
        rubric = path.read_text(encoding="utf-8") if path.is_file() else jc.rubric
        version = "custom-" + hashlib.sha256(rubric.encode()).hexdigest()[:12]
    blind = {m.model for m in members} | {m.model.rsplit("/", 1)[-1] for m in members}
    return Judge(client, member, rubric=rubric, rubric_version=version, blind_names=sorted(blind))


def asked_members(
    config: QuorumConfig, names: Sequence[str], *, use_judge: bool
) -> list[PanelMember]:
    """Every member a new run with these options asks: its models, and its judge unless
    the judge is off or there is none."""
    members = select_members(config, names)
    judge = build_judge(config, NoModelCalls(), members) if use_judge else None
    return members + ([judge.member] if judge is not None else [])


def any_asked_through_litellm(members: Sequence[PanelMember]) -> bool:
    """Whether any of ``members`` is asked through litellm (is not on an OpenAI-compatible
    server, :mod:`evals.models.openai_compatible`)."""
    return not all(OpenAICompatibleClient.handles(m) for m in members)
