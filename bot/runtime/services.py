"""The real adapters, built once per process. Tests build a :class:`Services` with fakes.

Everything the Slack listeners, the CLI and the scheduler need from the outside world
goes through this one object, so there is exactly one seam to swap in tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bot.runtime.adapters import (
    NoModelCalls,
    ProviderClient,
    limited,
    model_client,
    sentence_embedder,
)
from bot.runtime.config import QuorumConfig
from bot.runtime.db_guard import DbGuard
from bot.runtime.settings import Settings
from bot.runtime.workspaces import WorkspaceDirectory
from evals.consensus.calibrator import Calibrator, default_calibrator, load_calibrator
from evals.models.rate_limits import LimitedClient
from evals.protocols import Clock, Embedder, ModelClient, SystemClock
from evals.records import PanelMember
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    config: QuorumConfig
    members: list[PanelMember]
    shadow: list[PanelMember]
    client: ModelClient
    embedder: Embedder
    #: The configured calibrator (quorum.yaml / QUORUM_CALIBRATOR, else the shipped one):
    #: what a workspace is served until its own refit makes one of its own.
    calibrator: Calibrator
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    #: The embedder's background loader, if one was started; `close()` waits for it.
    loader: threading.Thread | None = None
    #: The workspaces served and each one's Slack client; None until the Slack side
    #: sets it (token mode: :class:`bot.slack.workspaces.TokenDirectory`).
    workspaces: WorkspaceDirectory | None = None
    #: Each workspace's calibrator made active by its refit (see bot.schedule.calibrators).
    calibrators: dict[str, Calibrator] = field(default_factory=dict)
    _db_guard: DbGuard | None = field(default=None, init=False, repr=False)

    @property
    def db_guard(self) -> DbGuard:
        """Bounded waits on the database for the Slack side (made on first use)."""
        if self._db_guard is None:
            self._db_guard = DbGuard(self.db, self.settings.quorum_db_write_timeout)
        return self._db_guard

    def calibrator_for(self, workspace: str) -> Calibrator:
        """The calibrator ``workspace``'s answers are scored with."""
        return self.calibrators.get(workspace, self.calibrator)

    @property
    def embedder_ready(self) -> bool:
        """False while the embedding model is still loading in the background."""
        return bool(getattr(self.embedder, "loaded", True))

    async def warm_up(self) -> None:
        """Do the slow first-call work (litellm's import, for the members that need it)
        before a user waits."""
        client = self.client.inner if isinstance(self.client, LimitedClient) else self.client
        if isinstance(client, ProviderClient):
            await client.warm_up([*self.members, *self.shadow])
            return
        warm_up = getattr(client, "warm_up", None)
        if warm_up is not None:
            await warm_up()

    def close(self) -> None:
        """Release the database and let a background model load finish: a process that
        exits while a thread is still importing can deadlock at interpreter shutdown."""
        if self.loader is not None:
            self.loader.join()
        if self._db_guard is not None:
            self._db_guard.close()
        self.db.dispose()


def build_calibrator(settings: Settings, config: QuorumConfig) -> Calibrator:
    path = settings.quorum_calibrator or config.consensus.calibrator
    return load_calibrator(path) if path else default_calibrator()


def build_services(
    settings: Settings, config: QuorumConfig, *, load_embedder_now: bool = False
) -> Services:
    """Build the production adapters. The embedder starts loading in the background at
    once so the first /compare does not wait for it (unless ``load_embedder_now``)."""
    # Everything that can fail on bad configuration first, threads last.
    calibrator = build_calibrator(settings, config)
    members = config.panel_members()
    shadow = config.shadow_members()
    db = Database(
        settings.database_url,
        connect_timeout_s=settings.quorum_db_connect_timeout,
        statement_timeout_s=settings.quorum_db_statement_timeout,
    )
    embedder = sentence_embedder(settings.quorum_embedding_model)
    loader = None
    if load_embedder_now:
        embedder.load()
    else:
        loader = embedder.start_loading()
    return Services(
        settings=settings,
        config=config,
        members=members,
        shadow=shadow,
        client=model_client(config),
        embedder=embedder,
        calibrator=calibrator,
        db=db,
        loader=loader,
    )


def command_services(
    settings: Settings,
    config: QuorumConfig,
    *,
    client: ModelClient | None = None,
    calls_models: bool = True,
) -> Services:
    """Services for a one-shot command: nothing slow happens until it is used (the
    embedder loads on its first embedding, litellm on the first call that needs it).

    ``calls_models=False`` (the digest): the providers' keys are neither needed nor read,
    and a model call would be a bug (:class:`NoModelCalls`)."""
    return Services(
        settings=settings,
        config=config,
        members=config.panel_members(secrets=calls_models),
        shadow=config.shadow_members(secrets=calls_models),
        client=_command_client(client, config, calls_models=calls_models),
        embedder=sentence_embedder(settings.quorum_embedding_model),
        calibrator=build_calibrator(settings, config),
        db=Database(settings.database_url),
    )


def _command_client(
    client: ModelClient | None, config: QuorumConfig, *, calls_models: bool
) -> ModelClient:
    if client is None and not calls_models:
        return NoModelCalls()
    return limited(client or ProviderClient(), config)
