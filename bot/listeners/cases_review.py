"""`/compare cases`: reviewers go through proposed eval cases without leaving Slack.

Reviewers are the Slack user ids in ``slack.reviewers`` plus the members of the user
group ``slack.reviewer_group`` (``usergroups.users.list``); everyone else gets a polite
refusal, for the command and for every button. The list is ephemeral and paginated;
each case has Approve → rotating, Approve → golden, Edit (a modal) and Reject. After an
action the list is redrawn in place with a line saying what changed, including the set's
new dataset version.

Register this module *before* ``compare`` so its ``/compare cases`` matcher is tried
first; every other ``/compare`` text goes on to the compare listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy.orm import Session

from bot.compare.case_intake import case_policy
from bot.listeners._shared import workspace_id
from bot.messages import case_review as cb
from bot.runtime.services import Services
from bot.slack import payload
from evals.cases.schema import CaseSet, CaseStatus
from evals.cases.sets import short_version
from evals.errors import InputError, QuorumError, new_reference
from storage import case_repo

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Republish a reviewer's Home tab (workspace, user, review page, note) after a change
#: made there.
RefreshHome = Callable[[AsyncWebClient, str, str, int, str | None], Awaitable[None]]

NO_CASE = "Sorry, I can't tell which case that button was for. Please open the list again."


def is_cases_text(text: str) -> bool:
    words = text.strip().lower().split()
    return bool(words) and words[0] == "cases"


async def reviewer_status(services: Services, client: AsyncWebClient, user_id: str) -> str:
    """ "yes", "no", or "none configured"."""
    slack = services.config.slack
    if user_id in slack.reviewers:
        return "yes"
    if slack.reviewer_group:
        try:
            resp = await client.usergroups_users_list(usergroup=slack.reviewer_group)
        except SlackApiError as exc:
            log.warning(
                "cannot read reviewer group %s: %s", slack.reviewer_group, exc.response.get("error")
            )
            return "no"
        return "yes" if user_id in (resp.get("users") or []) else "no"
    return "no" if slack.reviewers else "none configured"


def _refusal(status: str) -> str:
    return cb.NO_REVIEWERS_TEXT if status == "none configured" else cb.REFUSAL_TEXT


async def _db(services: Services, work: Callable[[Session], T]) -> T:
    def run() -> T:
        with services.db.session() as session:
            return work(session)

    return await asyncio.to_thread(run)


def _versions(session: Session, workspace: str) -> list[cb.SetVersion]:
    return [
        cb.SetVersion(
            s,
            len(case_repo.active_cases(session, s, workspace=workspace)),
            case_repo.dataset_version(session, s, workspace=workspace),
        )
        for s in CaseSet
    ]


def review_message(
    session: Session, page: int, note: str | None = None, *, workspace: str
) -> dict[str, Any]:
    """``workspace``'s review list: text and blocks for ``page`` (clamped to the pages
    there are)."""
    ws = workspace
    total = case_repo.list_cases(session, workspace=ws, status=CaseStatus.PROPOSED, limit=1).total
    pages = max(1, -(-total // cb.PAGE_SIZE))
    page = min(max(page, 1), pages)
    result = case_repo.list_cases(
        session,
        workspace=ws,
        status=CaseStatus.PROPOSED,
        limit=cb.PAGE_SIZE,
        offset=(page - 1) * cb.PAGE_SIZE,
    )
    blocks = cb.review_blocks(
        result.cases, total=result.total, page=page, versions=_versions(session, ws), note=note
    )
    return {"text": cb.review_text(result.total), "blocks": blocks}


def _page_of(body: dict[str, Any], action: dict[str, Any] | None = None) -> int:
    """The page the reviewer was looking at: from the button's block id, else from the
    pagination footer of the message (when Slack sends it)."""
    if action is not None:
        page = cb.page_of_block(str(action.get("block_id", "")))
        if page is not None:
            return page
    for block in (body.get("message") or {}).get("blocks") or []:
        if block.get("type") == "context":
            for element in block.get("elements") or []:
                text = str(element.get("text", ""))
                if text.startswith("Page ") and " of " in text:
                    try:
                        return int(text.split()[1])
                    except ValueError:
                        return 1
    return 1


def _friendly(exc: Exception) -> str:
    if isinstance(exc, QuorumError) and exc.user_safe:
        return exc.user_message
    ref = new_reference()
    log.exception("case review failed (%s)", ref)
    return f"Something went wrong on our side (ref {ref})."


def on_home(body: dict[str, Any]) -> bool:
    """Whether the button was pressed outside a message: on the App Home tab, which
    sends no response_url (so the list cannot be redrawn in place; the Home tab is)."""
    return not body.get("response_url")


def register(app: AsyncApp, services: Services, refresh_home: RefreshHome | None = None) -> None:
    """``refresh_home``: how the Home tab is redrawn after a change made on it (the same
    review list is shown there)."""

    async def cases_command(body: dict[str, Any]) -> bool:
        return is_cases_text(str(body.get("text") or ""))

    @app.command("/compare", matchers=[cases_command])
    async def on_cases(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        workspace = workspace_id(command)
        if workspace is None:
            return
        status = await reviewer_status(services, client, str(command["user_id"]))
        if status != "yes":
            await respond(response_type="ephemeral", text=_refusal(status))
            return
        try:
            message = await _db(services, lambda s: review_message(s, 1, workspace=workspace))
        except Exception as exc:
            await respond(response_type="ephemeral", text=_friendly(exc))
            return
        await respond(response_type="ephemeral", **message)

    async def tell(
        body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, text: str
    ) -> None:
        """A private note: next to the list, or (from the Home tab) as a direct message."""
        if body.get("response_url"):
            await respond(response_type="ephemeral", replace_original=False, text=text)
        else:
            await client.chat_postMessage(channel=body["user"]["id"], text=text)

    async def guard(body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> bool:
        status = await reviewer_status(services, client, str(body["user"]["id"]))
        if status != "yes":
            await tell(body, client, respond, _refusal(status))
            return False
        return True

    async def redraw(
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        page: int,
        workspace: str,
        change: Callable[[Session], str | None],
    ) -> None:
        """Apply ``change`` (it returns the note saying what changed) and redraw the list
        where it is shown: in place, or on the Home tab."""
        user = body["user"]["id"]
        try:
            if refresh_home is not None and on_home(body):
                note = await _db(services, change)
            else:
                message = await _db(
                    services, lambda s: review_message(s, page, change(s), workspace=workspace)
                )
        except Exception as exc:
            await tell(body, client, respond, _friendly(exc))
            return
        if refresh_home is not None and on_home(body):
            await refresh_home(client, workspace, user, page, note)
        else:
            await respond(response_type="ephemeral", replace_original=True, **message)

    async def decide(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        verdict: CaseSet | None,
    ) -> None:
        await ack()
        workspace = workspace_id(body)
        if workspace is None or not await guard(body, client, respond):
            return
        case_id, user, page = (
            str(action.get("value") or ""),
            body["user"]["id"],
            _page_of(body, action),
        )
        if not case_id:
            await tell(body, client, respond, NO_CASE)
            return

        def apply(session: Session) -> str:
            try:
                if verdict is None:
                    case_repo.reject_case(session, case_id, workspace=workspace, actor=user)
                    note = f"🗑️ Rejected `{case_id}`."
                else:
                    before = case_repo.dataset_version(session, verdict, workspace=workspace)
                    case_repo.approve_case(
                        session, case_id, verdict, workspace=workspace, actor=user
                    )
                    after = case_repo.dataset_version(session, verdict, workspace=workspace)
                    note = (
                        f"✅ Approved `{case_id}` into *{verdict.value}*. The {verdict.value} set is "
                        f"now version `{short_version(after)}` (was `{short_version(before)}`)."
                    )
            except InputError as exc:
                note = f"⚠️ {exc.user_message}"
            return note

        await redraw(body, client, respond, page, workspace, apply)

    def verdict_handler(verdict: CaseSet | None) -> Callable[..., Awaitable[None]]:
        async def handler(
            ack: AsyncAck,
            body: dict[str, Any],
            action: dict[str, Any],
            client: AsyncWebClient,
            respond: AsyncRespond,
        ) -> None:
            await decide(ack, body, action, client, respond, verdict)

        return handler

    app.action(cb.ACTION_APPROVE_ROTATING)(verdict_handler(CaseSet.ROTATING))
    app.action(cb.ACTION_APPROVE_GOLDEN)(verdict_handler(CaseSet.GOLDEN))
    app.action(cb.ACTION_REJECT)(verdict_handler(None))

    async def on_page(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        workspace = workspace_id(body)
        if workspace is None or not await guard(body, client, respond):
            return
        try:
            page = int(str(action.get("value")))
        except ValueError:
            page = 1
        await redraw(body, client, respond, page, workspace, lambda s: None)

    app.action(f"{cb.ACTION_PAGE}_prev")(on_page)
    app.action(f"{cb.ACTION_PAGE}_next")(on_page)

    @app.action(cb.ACTION_EDIT)
    async def on_edit(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        workspace = workspace_id(body)
        if workspace is None or not await guard(body, client, respond):
            return
        case_id = str(action.get("value") or "")
        if not case_id:
            await tell(body, client, respond, NO_CASE)
            return
        try:
            case = await _db(
                services, lambda s: case_repo.get_case(s, case_id, workspace=workspace)
            )
        except Exception as exc:
            await tell(body, client, respond, _friendly(exc))
            return
        if case is None:
            await tell(body, client, respond, f"Case `{case_id}` no longer exists.")
            return
        metadata = {
            "case_id": case_id,
            "page": _page_of(body, action),
            "response_url": body.get("response_url"),
            "home": on_home(body),
        }
        try:
            await client.views_open(
                trigger_id=body["trigger_id"], view=cb.edit_modal(case, metadata)
            )
        except SlackApiError as exc:
            log.info("could not open the case editor: %s", exc.response.get("error"))
            await tell(
                body,
                client,
                respond,
                "Sorry, Slack would not open the editor. Please press Edit again.",
            )

    @app.view(cb.EDIT_CALLBACK)
    async def on_edit_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = str(body["user"]["id"])
        workspace = workspace_id(body)
        if workspace is None:
            await ack()
            return
        status = await reviewer_status(services, client, user)
        if status != "yes":
            await ack(response_action="errors", errors={cb.BLOCK_EXPECTED: _refusal(status)[:150]})
            return
        metadata = payload.metadata(view)
        case_id = str(metadata.get("case_id", ""))
        values = payload.state_values(view)
        if not case_id or not cb.edit_is_complete(values):
            log.warning("an incomplete case edit form came back; nothing changed")
            await ack(response_action="errors", errors={cb.BLOCK_EXPECTED: cb.INCOMPLETE_EDIT})
            return
        patterns = case_policy(services.config).redact_patterns

        def apply(session: Session) -> str:
            before = case_repo.require_case(session, case_id, workspace=workspace)
            changes = cb.edit_changes(values, before)
            result = case_repo.edit_case(
                session, case_id, changes, workspace=workspace, actor=user, redact_patterns=patterns
            )
            if result.new_version:
                golden = case_repo.dataset_version(session, CaseSet.GOLDEN, workspace=workspace)
                return (
                    f"✏️ `{case_id}` is golden, so the edit made a new version `{result.case.id}` "
                    f"(the old one is retired). Golden set version "
                    f"`{short_version(golden)}`."
                )
            return f"✏️ Saved your changes to `{case_id}`."

        raw_page = metadata.get("page")
        page = raw_page if isinstance(raw_page, int) else 1
        try:
            if refresh_home is not None and metadata.get("home") is True:
                note = await _db(services, apply)
            else:
                message = await _db(
                    services, lambda s: review_message(s, page, apply(s), workspace=workspace)
                )
        except Exception as exc:
            await ack(response_action="errors", errors={cb.BLOCK_EXPECTED: _friendly(exc)[:150]})
            return
        await ack()
        if refresh_home is not None and metadata.get("home") is True:
            await refresh_home(client, workspace, user, page, note)
            return
        url = metadata.get("response_url")
        if url:
            try:
                await AsyncWebhookClient(str(url)).send(
                    replace_original=True, response_type="ephemeral", **message
                )
            except Exception:
                log.info("could not refresh the review list after an edit", exc_info=True)
