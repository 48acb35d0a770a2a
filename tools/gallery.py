"""Build the gallery of what Quorum posts in Slack: HTML from the bot's real Block Kit
builders, screenshotted with headless Chromium into ``docs/gallery/``.

    python -m tools.gallery                 # writes docs/gallery/*.png and *.html
    python -m tools.gallery --html-only     # only the HTML (no Chromium needed)

Needs Debian's ``chromium`` (``apt-get install chromium fonts-noto-color-emoji``) for the
screenshots. The data is made up but goes through the same builders the bot uses, so
the pictures change when the messages do. Look at every picture after a change to a
message: the tests check the words, only your eyes check how it reads.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

from bot.compare.delivery import member_messages
from bot.compare.flow import moved_text
from bot.messages import (
    app_home,
    ask_modal,
    commands,
    compare_result,
    correction_modal,
    result_text,
)
from bot.messages.case_review import SetVersion, new_case_notice, review_blocks
from bot.messages.digest import digest_blocks
from bot.schedule.jobs import chart_for
from bot.slack.install_pages import failure_page, install_page, success_page
from bot.slack.mrkdwn import to_mrkdwn
from evals.cases.schema import (
    CaseInput,
    CaseSet,
    CaseSource,
    EvalCase,
    ObservedAnswer,
    ObservedRun,
    Severity,
)
from evals.digest.preference import PreferencePick
from evals.digest.sections import build_digest
from evals.digest.week_data import (
    DatedEvalResult,
    DigestData,
    EvalResult,
    HistoryPoint,
    ModelWeek,
    ReviewItem,
    ShadowWeek,
)
from evals.records import Consensus, ConsensusStatus, ErrorKind, ModelAnswer, PanelRun
from tools.slack_preview import USER_NAMES, Message, Modal, Panel, render

DOCS = Path(__file__).resolve().parent.parent / "docs" / "gallery"
T0 = datetime(2026, 11, 23, 9, 41, tzinfo=UTC)
QUESTION = "Our API gets bursts of traffic. What status code should we return when a client sends too many requests, and how should the client back off?"
ASKER = "U0ALICE"
USER_NAMES[ASKER] = "alice"

A429 = (
    "Return **HTTP 429 Too Many Requests** with a `Retry-After` header.\n\n"
    "Clients should:\n"
    "1. honour `Retry-After` when it is present;\n"
    "2. otherwise back off exponentially (1 s, 2 s, 4 s…) with random jitter;\n"
    "3. give up after a few tries and surface the error."
)
B429 = "Use **429 Too Many Requests**. Clients should retry with exponential backoff plus jitter, and respect `Retry-After`."
C429 = "HTTP 429. Back off exponentially with full jitter and cap the delay (say 30 s)."
D503 = "Return **503 Service Unavailable** with `Retry-After`; clients retry after that delay."


def _ok(member: str, text: str, ms: int, cost: float | None) -> ModelAnswer:
    return ModelAnswer(
        member=member, model=f"openai/{member}", text=text, latency_ms=ms, cost_usd=cost
    )


def _run(*answers: ModelAnswer, seconds: float = 3.2) -> PanelRun:
    return PanelRun(QUESTION, answers, T0, T0 + timedelta(seconds=seconds))


def _consensus(
    model: str | None,
    text: str | None,
    confidence: float,
    clusters: tuple[tuple[str, ...], ...],
    dissenters: tuple[str, ...] = (),
    *,
    status: ConsensusStatus = ConsensusStatus.OK,
    reason: str = "",
    **explained: str,
) -> Consensus:
    return Consensus(
        status=status,
        model=model,
        text=text,
        confidence=confidence,
        raw_confidence=confidence,
        clusters=clusters,
        agreement={
            m: (0.9 if any(m in c and model in c for c in clusters) else 0.3)
            for c in clusters
            for m in c
        },
        dissenters=dissenters,
        features={},
        calibrator="gallery",
        reason=reason,
        meaning=explained.get("meaning", ""),
        caveat=explained.get("caveat", ""),
    )


def _result(run: PanelRun, consensus: Consensus, *, thread: bool = False) -> Message:
    view = compare_result.ResultView(run=run, consensus=consensus, asker=ASKER, run_id=None)
    replies: list[Message] = []
    if thread and compare_result.all_failed(run):
        replies.append(Message(compare_result.failures_reply_blocks(run), time="9:41 AM"))
    elif thread:
        for answer in run.answers:
            replies.append(
                Message(
                    compare_result.member_blocks(
                        42,
                        answer,
                        agreement=consensus.agreement.get(answer.member),
                        is_consensus=answer.member == consensus.model,
                        agrees=answer.member in result_text.agreeing_members(consensus),
                    )
                )
            )
    return Message(compare_result.result_blocks(view), replies=replies)


def result_high() -> Panel:
    run = _run(
        _ok("gpt-4.1-mini", A429, 1800, 0.00041),
        _ok("claude-haiku", B429, 2100, 0.00033),
        _ok("gemini-flash", C429, 1200, 0.00002),
        _ok("llama-local", D503, 3100, 0.0),
    )
    c = _consensus(
        "gpt-4.1-mini",
        A429,
        0.82,
        (("gpt-4.1-mini", "claude-haiku", "gemini-flash"), ("llama-local",)),
        ("llama-local",),
        meaning="Of past answers given 80–85%, 83% were right (held-out labelled panels).",
    )
    return Panel("Result: high confidence", [_result(run, c)])


def result_low() -> Panel:
    texts = {
        "gpt-4.1-mini": "Yes: Python's `sort()` is stable, so equal keys keep their order.",
        "claude-haiku": "Yes, `list.sort()` is guaranteed stable (Timsort).",
        "gemini-flash": "Yes. Both `sorted()` and `list.sort()` are stable.",
    }
    run = PanelRun(
        "Is Python's list.sort() stable?",
        (
            *(_ok(m, t, 1500, 0.00003) for m, t in texts.items()),
            ModelAnswer(
                member="llama-local",
                model="ollama/llama3.1",
                latency_ms=30000,
                error=ErrorKind.TIMEOUT,
                error_detail="no answer within 30 s",
                reference="Q-7F3A9C21",
            ),
        ),
        T0,
        T0 + timedelta(seconds=30.2),
    )
    c = _consensus(
        "claude-haiku",
        texts["claude-haiku"],
        0.34,
        (tuple(texts),),
        meaning="Of past answers given 30–35%, 36% were right (held-out labelled panels).",
        caveat="Only 3 of 4 models answered, so there was less to cross-check.",
    )
    return Panel("Result: models agree, confidence still low", [_result(run, c)])


def result_outvoted() -> Panel:
    texts = {
        "gpt-4.1-mini": "He has 24 − 9 = 15 apples left, then buys 3 bags of 4: "
        "15 + 12 = **27 apples**.",
        "claude-haiku": "24 − 9 = 15, and 3 more bags: 15 + 3 = **18 apples**.",
        "llama-local": "After eating 9 he has 15; adding the 3 bags gives **18 apples**.",
    }
    run = PanelRun(
        "Tom has 24 apples, eats 9, then buys 3 bags of 4. How many apples has he?",
        tuple(_ok(m, t, 1900, 0.00004) for m, t in texts.items()),
        T0,
        T0 + timedelta(seconds=2.4),
    )
    c = dataclasses.replace(
        _consensus(
            "gpt-4.1-mini",
            texts["gpt-4.1-mini"],
            0.55,
            (("claude-haiku", "llama-local"), ("gpt-4.1-mini",)),
            ("claude-haiku", "llama-local"),
            meaning="Of past answers given 50–60%, 51% were right (held-out labelled panels).",
            caveat="gpt-4.1-mini's record on labelled questions makes its answer more likely "
            "right than the 2 models that agree on another one.",
        ),
        features={"rival_support": 2.0},
    )
    return Panel("Result: one model shown over two that agree", [_result(run, c)])


def result_none() -> Panel:
    run = _run(
        _ok("gpt-4.1-mini", "It was released in **1991**.", 1400, 0.00002),
        ModelAnswer(
            member="claude-haiku",
            model="anthropic/claude-3-5-haiku",
            latency_ms=900,
            error=ErrorKind.RATE_LIMITED,
            error_detail="HTTP 429 RateLimitError: rate limit of 50 requests per minute reached (after 3 attempts)",
            reference="Q-0B12E4F8",
        ),
        ModelAnswer(
            member="gemini-flash",
            model="gemini/gemini-2.0-flash",
            latency_ms=400,
            error=ErrorKind.BAD_REQUEST,
            error_detail="HTTP 400 BadRequestError: maximum context length is 8192 tokens",
            reference="Q-5D77A0C3",
        ),
    )
    run = dataclasses.replace(run, question="When was the first version of Linux released?")
    c = _consensus(
        None,
        None,
        0.0,
        (),
        status=ConsensusStatus.NONE,
        reason="only 1 of 3 models answered and 2 are needed; its answer is in the thread",
    )
    return Panel("Result: no consensus (quorum not met)", [_result(run, c)])


def thread() -> Panel:
    run = _run(
        _ok("gpt-4.1-mini", A429, 1800, 0.00041),
        _ok("claude-haiku", B429, 2100, 0.00033),
        _ok("llama-local", D503, 3100, None),
    )
    c = _consensus(
        "gpt-4.1-mini",
        A429,
        0.74,
        (("gpt-4.1-mini", "claude-haiku"), ("llama-local",)),
        ("llama-local",),
        meaning="Of past answers given 70–75%, 72% were right (held-out labelled panels).",
    )
    message = _result(run, c, thread=True)
    message.blocks = [*message.blocks[:3], message.blocks[-1]]  # the thread is the point here
    return Panel("Thread: each model's full answer", [message], "(result message shortened)")


def all_failed() -> Panel:
    failures = [
        (
            "gpt-4.1-mini",
            ErrorKind.AUTH,
            "HTTP 401 AuthenticationError: Incorrect API key provided: sk-…[redacted]",
            "Q-9E0D11AB",
        ),
        (
            "llama-local",  # on an OpenAI-compatible server: asked without litellm
            ErrorKind.PROVIDER_ERROR,
            "could not connect to 10.0.0.5:8000 (after 3 attempts)",
            "Q-51C2F7E0",
        ),
        ("gemini-flash", ErrorKind.TIMEOUT, "no answer within 30 s", "Q-A4B3C2D1"),
    ]
    run = _run(
        *(
            ModelAnswer(
                member=m, model=f"x/{m}", latency_ms=30000, error=k, error_detail=d, reference=r
            )
            for m, k, d, r in failures
        ),
        seconds=30.1,
    )
    c = _consensus(None, None, 0.0, (), status=ConsensusStatus.NONE, reason="no usable answers")
    return Panel("Every model failed", [_result(run, c, thread=True)])


def help_message() -> Panel:
    return Panel("/compare help", [Message(commands.help_blocks(), ephemeral=True)])


def correct_modal_panel() -> Panel:
    return Panel(
        "✏️ Correct (modal)",
        [Modal(correction_modal.correction_modal({"run_id": 42}, original=A429))],
    )


def _cases() -> tuple[list[EvalCase], list[SetVersion]]:
    """Two proposed cases and the sets' versions (the review list and the Home tab)."""

    def case(
        i: str, q: str, answers: dict[str, str], panel: str, flagged: str, **kw: Any
    ) -> EvalCase:
        return EvalCase(
            id=i,
            input=CaseInput(question=q),
            source=CaseSource.PRODUCTION,
            source_link="https://slack.com/archives/C0GENERAL/p1764000000000100",
            observed=ObservedRun(
                answers=[ObservedAnswer(model=m, text=t) for m, t in answers.items()],
                consensus_model=panel,
                consensus_text=answers[panel],
                confidence=0.41,
                flagged=[flagged],
            ),
            tags=["production", "thumbs-down"],
            **kw,
        )

    cases = [
        case(
            "c-7d1e",
            "Which header tells a client how long to wait after a 429?",
            {
                "gpt-4.1-mini": "Retry-After: seconds to wait, or an HTTP date.",
                "gemini-flash": "The X-RateLimit-Reset header.",
            },
            "gpt-4.1-mini",
            flagged="gemini-flash",  # a 👎 on gemini-flash's own thread reply
            expected="Retry-After (seconds or an HTTP date).",
            category="http",
            severity=Severity.MEDIUM,
        ),
        case(
            "c-19a2",
            "Can I rotate a Postgres password without downtime?",
            {"llama-local": "No, you must restart the server."},
            "llama-local",
            flagged="llama-local",  # a 👎 on the result: the panel's answer
            severity=Severity.HIGH,
        ),
    ]
    versions = [
        SetVersion(CaseSet.GOLDEN, 48, "9f2c4e1a77b0" + "0" * 52),
        SetVersion(CaseSet.ROTATING, 112, "03be5d9910aa" + "0" * 52),
    ]
    return cases, versions


def review_list() -> Panel:
    cases, versions = _cases()
    out = review_blocks(cases, total=2, page=1, versions=versions)
    notice = Message(new_case_notice(cases[0]), time="9:40 AM")
    return Panel(
        "/compare cases (review list)",
        [notice, Message(out, ephemeral=True)],
        "The notice in the review channel when a case is proposed, then the reviewer's list.",
    )


def _eval(passed: int, n: int, cases: int = 0) -> EvalResult:
    cases = cases or n
    per_case = {f"c{i}": (1.0 if i < passed * cases // n else 0.0) for i in range(cases)}
    return EvalResult(passed=passed, n=n, per_case=per_case)


def digest() -> Panel:
    end = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    weeks = ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    history = []
    # the last week's pass rates are this week's latest runs (41, 33 and 37 of 48 below)
    for model, base, now in (
        ("gpt-4.1-mini", 0.86, 41 / 48),
        ("claude-haiku", 0.8, 33 / 48),
        ("gemini-flash", 0.74, 37 / 48),
    ):
        for i, week in enumerate(weeks[1:]):
            rate = now if week == weeks[-1] else base + 0.02 * (i % 2)
            history.append(HistoryPoint(week, model, rate, base - 0.1 + 0.03 * i))
    data = DigestData(
        period="2026-W48",
        start=end - timedelta(days=7),
        end=end,
        timezone="Europe/Berlin",
        models=[
            ModelWeek(
                "gpt-4.1-mini",
                eval_now=_eval(41, 48),
                eval_before=_eval(42, 48),
                thumbs_up=31,
                thumbs_down=4,
                answers=212,
                latency_p50_ms=1800,
                latency_p95_ms=4200,
                mean_cost_usd=0.0004,
            ),
            ModelWeek(
                "claude-haiku",
                eval_now=_eval(33, 48),
                eval_before=_eval(34, 48),
                # Tuesday's run passed 46 of 48: the fall is this week's, not last week's
                eval_earlier=(DatedEvalResult(end - timedelta(days=5, hours=20), _eval(46, 48)),),
                thumbs_up=22,
                thumbs_down=9,
                answers=209,
                latency_p50_ms=2100,
                latency_p95_ms=5100,
                mean_cost_usd=0.0003,
            ),
            ModelWeek(
                "gemini-flash",
                eval_now=_eval(37, 48),
                eval_before=_eval(36, 48),
                thumbs_up=25,
                thumbs_down=6,
                answers=210,
                latency_p50_ms=1200,
                latency_p95_ms=2600,
                mean_cost_usd=0.00002,
            ),
            ModelWeek(
                "qwen-72b",
                role="shadow",
                eval_now=_eval(44, 48),
                answers=205,
                latency_p50_ms=1500,
                latency_p95_ms=3000,
                mean_cost_usd=0.0002,
            ),
        ],
        questions=214,
        votes=[PreferencePick("gpt-4.1-mini", ("gpt-4.1-mini", "claude-haiku", "gemini-flash"))] * 6
        + [PreferencePick("gemini-flash", ("gpt-4.1-mini", "claude-haiku", "gemini-flash"))] * 4,
        calibration=[(0.8, True)] * 30
        + [(0.8, False)] * 8
        + [(0.4, True)] * 6
        + [(0.4, False)] * 9,
        review=[
            ReviewItem("c-7d1e", "Which header tells a client how long to wait after a 429?"),
            ReviewItem("c-81b0", "Is it safe to retry a POST that timed out?"),
            ReviewItem("c-9a44", "What does HTTP 425 Too Early mean?"),
        ],
        review_total=3,
        shadow=[ShadowWeek("qwen-72b", agreements=[0.9] * 180 + [0.3] * 25)],
        history=history,
        history_weeks=weeks,
    )
    built = build_digest(data)
    chart = "data:image/png;base64," + base64.b64encode(chart_for(built)).decode()
    return Panel("Weekly digest", [Message(digest_blocks(built, chart_attached=True), image=chart)])


def home_tab() -> Panel:
    """The App Home tab of a reviewer, with made-up numbers."""
    models = [
        app_home.ModelVerdict(
            "gpt-4.1-mini",
            eval_passed=41,
            eval_n=48,
            eval_at=T0 - timedelta(days=1),
            thumbs_up=37,
            thumbs_down=4,
            answers=212,
            mean_cost_usd=0.00041,
        ),
        app_home.ModelVerdict(
            "claude-haiku",
            eval_passed=38,
            eval_n=48,
            eval_at=T0 - timedelta(days=1),
            thumbs_up=29,
            thumbs_down=6,
            answers=209,
            mean_cost_usd=0.00033,
        ),
        app_home.ModelVerdict(
            "llama-local",
            eval_passed=27,
            eval_n=48,
            eval_at=T0 - timedelta(days=1),
            thumbs_up=9,
            thumbs_down=7,
            answers=198,
            mean_cost_usd=None,
        ),
        app_home.ModelVerdict("gemini-flash", role="shadow", answers=57, mean_cost_usd=0.00002),
    ]
    questions = [
        app_home.RecentQuestion(
            101,
            QUESTION,
            T0 - timedelta(hours=2),
            0.86,
            True,
            "https://slack.com/archives/C0GENERAL/p1764000000000100",
        ),
        app_home.RecentQuestion(
            97,
            "When was the first version of Linux released?",
            T0 - timedelta(days=1),
            0.0,
            False,
            "https://slack.com/archives/C0GENERAL/p1763900000000100",
        ),
    ]
    jobs = [
        app_home.NextJob("Next benchmark", datetime(2026, 11, 30, 6, tzinfo=UTC)),
        app_home.NextJob("Next digest", datetime(2026, 11, 30, 8, tzinfo=UTC)),
    ]
    cases, versions = _cases()
    data = app_home.HomeData(
        user_id=ASKER,
        models=models,
        window_days=30,
        questions=questions,
        next_jobs=jobs,
        review=review_blocks(cases, total=len(cases), page=1, versions=versions),
        review_total=len(cases),
    )
    return Panel(
        "App Home tab (a reviewer's)",
        [Message(app_home.home_blocks(data))],
        "(drawn in a message frame; Slack shows these blocks as the app's Home tab, and "
        "the dates in the reader's own time zone)",
    )


def ask_modal_panel() -> Panel:
    return Panel("⚡ Ask the panel (global shortcut)", [Modal(ask_modal.ask_modal())])


def cut_answer() -> Panel:
    """The last thread part of an answer too long for Slack, and where the rest is."""
    sentence = "Retry with exponential backoff, full jitter and a cap; honour Retry-After. "
    answer = _ok("llama-local", sentence * 2100, 48000, None)
    parts = member_messages(42, answer, agreement=0.81, is_consensus=False, agrees=True).parts
    last = parts[-1]
    shown = [last[0], {**last[-2]}, last[-1]]
    text = shown[1]["text"]["text"]
    shown[1] = {**shown[1], "text": {**shown[1]["text"], "text": "…" + text[-420:]}}
    file_note = compare_result.context_block(
        "📄 *llama-local-answer.md* · llama-local's whole answer (157,500 characters)"
    ).to_dict()
    return Panel(
        "A cut answer: the last thread part, then the whole answer as a file",
        [Message(shown), Message([file_note], text="")],
        "(the part's text shortened here; the file message is drawn as Slack lists a file)",
    )


def thread_streamed() -> Panel:
    """The thread where the workspace has chat streaming: each answer arrives as it is
    streamed (Markdown), the *Best answer* button at its foot once it is complete."""
    run = _run(
        _ok("gpt-4.1-mini", A429, 1800, 0.00041),
        _ok("claude-haiku", B429, 2100, 0.00033),
        _ok("llama-local", D503, 3100, None),
    )
    agreement = {"gpt-4.1-mini": 0.91, "claude-haiku": 0.88, "llama-local": 0.31}
    agrees = {"gpt-4.1-mini": True, "claude-haiku": True, "llama-local": False}
    replies = []
    for answer in run.answers:
        markdown = (
            compare_result.member_markdown_head(
                answer,
                agreement=agreement[answer.member],
                is_consensus=answer.member == "gpt-4.1-mini",
                agrees=agrees[answer.member],
            )
            + answer.text
        )
        shown = compare_result.section(to_mrkdwn(markdown)).to_dict()
        replies.append(Message([shown, compare_result.best_answer_block(42, answer.member)]))
    parent = Message(
        [compare_result.section(f"<@{ASKER}> asked:\n> {QUESTION}").to_dict()],
        replies=replies,
    )
    return Panel(
        "Thread answers streamed (chat streaming)",
        [parent],
        "(result message shortened; Slack shows each answer growing as it streams, drawn "
        "here once complete)",
    )


def result_moved() -> Panel:
    link = "https://slack.com/archives/C0GENERAL/p1764000000000200"
    note = compare_result.section(moved_text(link)).to_dict()
    return Panel(
        "Slack refused to update the result: the asker is told where it is",
        [Message([note], ephemeral=True)],
    )


GALLERY: Sequence[tuple[str, Callable[[], Panel]]] = (
    ("result-high", result_high),
    ("result-low", result_low),
    ("result-outvoted", result_outvoted),
    ("result-none", result_none),
    ("thread", thread),
    ("all-failed", all_failed),
    ("help", help_message),
    ("correction-modal", correct_modal_panel),
    ("review-list", review_list),
    ("digest", digest),
    ("app-home", home_tab),
    ("ask-modal", ask_modal_panel),
    ("cut-answer", cut_answer),
    ("result-moved", result_moved),
    ("thread-streamed", thread_streamed),
)


#: Web pages (not Slack messages): the install pages of OAuth installs, as served.
PAGES: Sequence[tuple[str, Callable[[], str]]] = (
    ("install-link", lambda: install_page("https://slack.com/oauth/v2/authorize")),
    ("install-success", lambda: success_page("Acme Engineering", "slack://open")),
    ("install-expired", lambda: failure_page("invalid_state", "/slack/install")),
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(
        "Chromium is needed for the screenshots: apt-get install chromium fonts-noto-color-emoji"
    )


def screenshot(browser: str, page: Path, png: Path, width: int) -> None:
    """A full-page PNG of ``page``, cropped to its content and reduced to a palette."""
    # Here, not at the top: only the screenshots need Pillow (a heavy optional import).

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--window-size={width},3000",
                f"--screenshot={raw}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        image = Image.open(raw).convert("RGB")
    background = Image.new("RGB", image.size, (255, 255, 255))
    box = ImageChops.difference(image, background).getbbox()
    if box:
        image = image.crop((0, 0, width, min(image.height, box[3] + 12)))
    buf = io.BytesIO()
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
    png.write_bytes(buf.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--html-only", action="store_true")
    parser.add_argument("--only", nargs="*", help="names to build (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    browser = None if args.html_only else chromium()
    width = 760
    for name, build in GALLERY:
        if args.only and name not in args.only:
            continue
        page = args.out / f"{name}.html"
        page.write_text(render([build()], width=width - 40), encoding="utf-8")
        if browser:
            screenshot(browser, page, args.out / f"{name}.png", width)
            page.unlink()
        print(f"{name}: {args.out / (name + ('.png' if browser else '.html'))}")
    for name, html in PAGES:
        if args.only and name not in args.only:
            continue
        page = args.out / f"{name}.html"
        page.write_text(html(), encoding="utf-8")
        if browser:
            screenshot(browser, page, args.out / f"{name}.png", width)
            page.unlink()
        print(f"{name}: {args.out / (name + ('.png' if browser else '.html'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
