"""The checks behind `quorum doctor`: configuration, keys, every model (a tiny call),
the database and the embedder. Imported when the command runs."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass

from bot.runtime.adapters import model_client, sentence_embedder
from bot.runtime.config import QuorumConfig, to_member
from bot.runtime.preflight import missing_provider_keys, missing_slack, slack_conflict
from bot.runtime.settings import Settings
from evals.errors import QuorumError
from evals.protocols import ModelClient
from evals.records import ERROR_KIND_TEXT, ChatMessage, ErrorKind, PanelMember
from storage.db import Database

PING = (ChatMessage("user", "Reply with the single word OK."),)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _key_checks(settings: Settings, config: QuorumConfig) -> list[Check]:
    checks = [
        Check(f"env {m.variable}", False, f"not set: {m.why}")
        for m in missing_provider_keys(config)
    ]
    socket_mode = settings.slack_app_token is not None
    slack_missing = missing_slack(settings, socket_mode=socket_mode)
    mode = ("Socket Mode" if socket_mode else "HTTP") + (
        ", OAuth installs" if settings.oauth else ""
    )
    conflict = slack_conflict(settings)
    if conflict:
        checks.append(Check("slack credentials", False, conflict, required=False))
    elif slack_missing:
        names = ", ".join(m.variable for m in slack_missing)
        detail = f"{mode}: {names} not set (needed for `quorum run`, not for the CLI)"
        checks.append(Check("slack credentials", False, detail, required=False))
    else:
        checks.append(Check("slack credentials", True, f"{mode}: tokens present"))
    return checks


def _model_checks(config: QuorumConfig, *, unset: set[str]) -> list[Check]:
    """One tiny call per model. A model whose key variable is not set is not called: the
    missing key is already one failed check, and is counted once."""
    needs: dict[str, list[str]] = {}
    for where, name in config.env_references():
        needs.setdefault(where.split(".litellm_params")[0], []).append(name)
    members: list[PanelMember] = []
    checks: list[Check] = []
    for label, entries in (("panel", config.panel), ("shadow", config.shadow)):
        for entry in entries:
            missing = [n for n in needs.get(f"{label}[{entry.model_name}]", []) if n in unset]
            if missing:
                detail = f"not tried: {', '.join(missing)} is not set (see above)"
                checks.append(Check(f"{label} {entry.model_name}", False, detail, required=False))
                continue
            try:
                member = to_member(entry, config.consensus)
            except QuorumError as exc:
                checks.append(Check(f"{label} {entry.model_name}", False, exc.user_message))
                continue
            # A tiny, single-shot call: enough to prove the key and the route work.
            members.append(
                dataclasses.replace(
                    member, max_tokens=5, max_retries=0, timeout_s=min(member.timeout_s, 20)
                )
            )
    results = asyncio.run(_ping_all(model_client(), members))
    for member, (ok, detail) in zip(members, results, strict=True):
        checks.append(Check(f"model {member.name}", ok, detail))
    return checks


async def _ping_all(client: ModelClient, members: list[PanelMember]) -> list[tuple[bool, str]]:
    async def ping(member: PanelMember) -> tuple[bool, str]:
        answer = await client.complete(member, PING)
        if answer.ok or answer.error is ErrorKind.EMPTY:
            version = answer.resolved_model or member.model
            return True, f"answered in {answer.latency_ms} ms ({version})"
        assert answer.error is not None
        return False, f"{ERROR_KIND_TEXT[answer.error]}: {answer.error_detail or ''}".strip(": ")

    return list(await asyncio.gather(*(ping(m) for m in members)))


def _database_check(settings: Settings) -> Check:
    database = Database(settings.database_url)
    try:
        database.ping()
        revision = database.current_revision()
        if revision is None:
            return Check("database", True, "reachable, empty (the bot migrates it on start)")
        return Check("database", True, f"reachable, schema revision {revision}")
    except QuorumError as exc:
        return Check("database", False, exc.user_message)
    finally:
        database.dispose()


def _embedder_check(settings: Settings) -> Check:
    started = time.perf_counter()
    try:
        embedder = sentence_embedder(settings.quorum_embedding_model)
        vectors = embedder.embed(["quorum doctor"])
    except Exception as exc:  # any loading failure is a failed check, not a crash
        return Check("embedder", False, f"could not load: {type(exc).__name__}")
    seconds = time.perf_counter() - started
    return Check(
        "embedder", True, f"{embedder.name}: {vectors.shape[1]} dims, loaded in {seconds:.1f} s"
    )


def run_checks(settings: Settings, config: QuorumConfig) -> list[Check]:
    """Every check, in the order the table shows them."""
    checks = [Check("configuration", True, f"{settings.quorum_config} is valid")]
    checks += _key_checks(settings, config)
    checks += _model_checks(config, unset={m.variable for m in missing_provider_keys(config)})
    checks.append(_database_check(settings))
    checks.append(_embedder_check(settings))
    return checks
