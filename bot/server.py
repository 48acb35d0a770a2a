"""Serving the Bolt app: HTTP (aiohttp, ``POST /slack/events``, ``GET /healthz``) or
Socket Mode (a websocket Slack opens for us, no public URL needed)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.app import build_app
from bot.compare.run_spool import default_spool
from bot.runtime.services import Services
from bot.runtime.shared_budget import recording_demand
from bot.slack import payload
from bot.slack.background_tasks import drain, spawn
from bot.slack.install_pages import install_error_page
from bot.slack.request_guard import check_request, log_rejection
from bot.slack.workspaces import claim_for_token
from evals.errors import new_reference

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
#: Seconds between two replays of writes spooled while the database was down.
SPOOL_REPLAY_EVERY_S = 60.0
#: Slack sends small bodies; anything bigger is not Slack.
MAX_BODY_BYTES = 1024 * 1024


async def health(services: Services) -> tuple[bool, dict[str, Any]]:
    """Answers within a fraction of a second whatever the database does: a database that
    does not answer a probe at once is reported ``degraded`` (see bot.runtime.db_guard). The
    embedding model loading in the background does not make the process unhealthy (a
    platform's health check would otherwise fail during a cold start): a /compare that
    arrives meanwhile waits for it."""
    database = await services.db_guard.health()
    db_ok = database == "ok"
    emb_ok = services.embedder_ready
    body = {
        "ok": db_ok,
        "database": database,
        "embedder": "loaded" if emb_ok else "loading",
        "models": [m.name for m in services.members],
    }
    return db_ok, body


def malformed(body: Any) -> bool:
    """True (and one short log line) for a signed payload that lacks a field Quorum's
    listeners read, or has one of the wrong type (see :mod:`bot.slack.payload`). It is
    acknowledged, so Slack does not retry it, and no listener sees it. Checked before
    Bolt builds its request, which itself fails on some of these."""
    found = payload.problems(body)
    if found:
        log.warning(
            "ignored a malformed %s from Slack: %s", payload.kind_of(body), "; ".join(found[:5])
        )
    return bool(found)


def build_web_app(
    services: Services, app: AsyncApp | None = None, *, events: bool = True
) -> web.Application:
    """``events=False``: no ``POST /slack/events`` (Socket Mode brings Slack's requests;
    the server is there for the install pages and ``/healthz``)."""
    bolt = app or build_app(services)
    web_app = web.Application(client_max_size=MAX_BODY_BYTES)

    secret = services.settings.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret else None

    async def slack_events(request: web.Request) -> web.Response:
        refusal = check_request(signing_secret, await request.read(), request.headers)
        if refusal is not None:
            log_rejection(refusal, request.remote)
            return web.json_response({"ok": False, "error": refusal.reason}, status=refusal.status)
        raw = await request.text()
        if malformed(parse_body(raw, request.headers.get("Content-Type"))):
            return web.Response(status=200, text="")
        bolt_request = await to_bolt_request(request)
        bolt_response = await bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(request: web.Request) -> web.Response:
        ok, body = await health(services)
        return web.json_response(body, status=200 if ok else 503)

    if events:
        web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get(HEALTH_PATH, healthz)
    if bolt.oauth_flow is not None:
        add_install_routes(web_app, bolt.oauth_flow)
    return web_app


def add_install_routes(web_app: web.Application, flow: AsyncOAuthFlow) -> None:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect`` (OAuth installs): pages
    for people, so every failure is a page saying what to do, never a traceback."""

    async def oauth_page(request: web.Request) -> web.Response:
        bolt_request = AsyncBoltRequest(
            body="", query=request.query_string, headers=dict(request.headers)
        )
        try:
            if request.path == flow.install_path:
                bolt_response = await flow.handle_installation(bolt_request)
            else:
                bolt_response = await flow.handle_callback(bolt_request)
        except Exception:
            ref = new_reference()
            log.error("the install page failed [%s]", ref, exc_info=True)
            return web.Response(
                status=503,
                text=install_error_page(ref, flow.install_path),
                content_type="text/html",
                headers={"Cache-Control": "no-store"},
            )
        return await to_aiohttp_response(bolt_response)

    web_app.router.add_get(flow.install_path, oauth_page)
    web_app.router.add_get(flow.redirect_uri_path, oauth_page)


@dataclass
class RunningServer:
    runner: web.AppRunner
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HEALTH_PATH}"

    async def stop(self) -> None:
        await drain()
        await self.runner.cleanup()


async def start_http(
    services: Services,
    port: int,
    *,
    host: str = "0.0.0.0",
    app: AsyncApp | None = None,
    events: bool = True,
) -> RunningServer:
    """Start serving and return at once (port 0 picks a free port)."""
    runner = web.AppRunner(build_web_app(services, app, events=events), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    actual = int(sockets[0].getsockname()[1]) if sockets else port
    return RunningServer(runner, actual)


async def keep_replaying(services: Services, every_s: float = SPOOL_REPLAY_EVERY_S) -> None:
    """Replay spooled writes at start and then regularly (they also replay after any
    successful write); runs until cancelled."""
    spool = default_spool(services)
    while True:
        try:
            report = await asyncio.to_thread(spool.replay, services.db)
            if report.remaining:
                log.warning("%d spooled writes still wait for the database", report.remaining)
        except Exception:
            log.warning("replaying the spool failed; will retry", exc_info=True)
        await asyncio.sleep(every_s)


async def serve_http(services: Services, port: int) -> None:
    """Serve Slack's requests over HTTP until cancelled."""
    server = await start_http(services, port)
    # In the background: a Slack that does not answer auth.test must not keep /healthz
    # and Slack's requests waiting (the client tries for up to 45 s).
    spawn(claim_for_token(services), name="claim-unassigned-rows")
    replayer = asyncio.create_task(keep_replaying(services), name="spool-replay")
    log.info("Quorum listening on port %s (POST %s, GET %s)", server.port, EVENTS_PATH, HEALTH_PATH)
    try:
        async with recording_demand(services):  # so that benchmarks elsewhere back off
            await asyncio.Event().wait()
    finally:
        replayer.cancel()
        await server.stop()


class CheckedSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, acknowledging malformed payloads before Bolt sees them
    (as the HTTP endpoint does)."""

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        if malformed(req.payload):
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await super().handle(client, req)  # type: ignore[arg-type]


def build_socket_mode_handler(
    services: Services, app: AsyncApp | None = None
) -> AsyncSocketModeHandler:
    token = services.settings.slack_app_token
    if token is None:
        raise ValueError("Socket Mode needs SLACK_APP_TOKEN (an xapp-... app-level token)")
    return CheckedSocketModeHandler(app or build_app(services), token.get_secret_value())


async def serve_socket_mode(services: Services) -> None:
    """Connect to Slack over Socket Mode and handle requests until cancelled. With OAuth
    installs, the install pages (and ``/healthz``) are served over HTTP on ``$PORT`` too:
    people reach them with a browser, not through Slack's socket."""
    spawn(claim_for_token(services), name="claim-unassigned-rows")
    app = build_app(services)
    handler = build_socket_mode_handler(services, app)
    pages: RunningServer | None = None
    if app.oauth_flow is not None:
        pages = await start_http(services, services.settings.port, app=app, events=False)
        log.info("install pages on port %s (GET /slack/install)", pages.port)
    replayer = asyncio.create_task(keep_replaying(services), name="spool-replay")
    log.info("Quorum connecting to Slack with Socket Mode")
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        async with recording_demand(services):  # so that benchmarks elsewhere back off
            await asyncio.Event().wait()
    finally:
        replayer.cancel()
        await handler.close_async()  # type: ignore[no-untyped-call]
        await drain()
        if pages is not None:
            await pages.runner.cleanup()
