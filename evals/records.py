"""Records shared across Quorum: panel members, answers, runs and consensus results.

Frozen dataclasses so they can be passed between tasks, cached and compared safely.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """Why a panel member produced no usable answer."""

    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    PROVIDER_ERROR = "provider_error"
    EMPTY = "empty"
    #: An eval run's deadline passed while the provider was still refusing (rate limits).
    DEADLINE = "deadline"


#: Plain words for each error kind, safe to show a user.
ERROR_KIND_TEXT: Mapping[ErrorKind, str] = {
    ErrorKind.TIMEOUT: "did not answer in time",
    ErrorKind.RATE_LIMITED: "was rate limited by the provider",
    ErrorKind.AUTH: "rejected our credentials (check its API key)",
    ErrorKind.BAD_REQUEST: "rejected the request as invalid",
    ErrorKind.PROVIDER_ERROR: "had a provider error",
    ErrorKind.EMPTY: "returned an empty answer",
    ErrorKind.DEADLINE: "was still rate limited when the run's deadline passed",
}


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class SentOptions:
    """The sampling options one member was sent (None: the provider's default)."""

    temperature: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class SentPrompt:
    """Exactly what the panel was sent: the messages (system prompt, earlier thread
    messages, the question) and each member's sampling options, by member name."""

    messages: tuple[ChatMessage, ...]
    options: Mapping[str, SentOptions] = field(default_factory=dict)

    @property
    def system_prompt(self) -> str | None:
        head = self.messages[0] if self.messages else None
        return head.content if head is not None and head.role == "system" else None

    @property
    def context(self) -> tuple[ChatMessage, ...]:
        """The messages between the system prompt and the question."""
        start = 1 if self.system_prompt is not None else 0
        return self.messages[start:-1]

    @property
    def question(self) -> str:
        return self.messages[-1].content if self.messages else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "options": {
                name: {"temperature": o.temperature, "max_tokens": o.max_tokens}
                for name, o in self.options.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SentPrompt:
        options = data.get("options") or {}
        return cls(
            messages=tuple(
                ChatMessage(str(m["role"]), str(m["content"])) for m in data.get("messages") or []
            ),
            options={
                str(name): SentOptions(
                    temperature=None if o.get("temperature") is None else float(o["temperature"]),
                    max_tokens=None if o.get("max_tokens") is None else int(o["max_tokens"]),
                )
                for name, o in options.items()
            },
        )


@dataclass(frozen=True)
class PanelMember:
    """One model on the panel, in litellm's terms.

    ``name`` is the ``model_name`` people see; ``model`` is litellm's model string
    (``openai/gpt-4o-mini``); ``params`` are the remaining ``litellm_params``
    (``api_base``, resolved ``api_key``, ...), passed through to litellm untouched.
    """

    name: str
    model: str
    # repr=False: params carry resolved API keys, which must never reach a log line.
    params: Mapping[str, Any] = field(default_factory=dict, repr=False)
    weight: float = 1.0
    timeout_s: float = 60.0
    temperature: float | None = None
    max_tokens: int | None = None
    max_retries: int = 2


@dataclass(frozen=True)
class ModelAnswer:
    """What one member said (or why it said nothing), with its metadata."""

    member: str
    model: str
    text: str = ""
    resolved_model: str | None = None
    latency_ms: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    finish_reason: str | None = None
    error: ErrorKind | None = None
    error_detail: str | None = None
    #: For a failure: the id in the log line that has the details (``Q-1A2B3C4D``).
    reference: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON; :meth:`from_dict` gives back an equal answer."""
        return {**asdict(self), "error": self.error.value if self.error else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelAnswer:
        error = data.get("error")
        return cls(**{**data, "error": ErrorKind(error) if error else None})


class ConsensusStatus(StrEnum):
    OK = "ok"  # two or more usable answers: a real consensus
    SINGLE = "single"  # exactly one usable answer: shown with a low, labelled confidence
    NONE = "none"  # no usable answer, or the quorum was not met


@dataclass(frozen=True)
class Consensus:
    """The consensus over a panel's answers.

    ``confidence`` is the calibrated probability that ``text`` is right;
    ``raw_confidence`` is the uncalibrated agreement score it was derived from.
    """

    status: ConsensusStatus
    model: str | None
    text: str | None
    confidence: float
    raw_confidence: float
    clusters: tuple[tuple[str, ...], ...]
    agreement: Mapping[str, float]
    dissenters: tuple[str, ...]
    features: Mapping[str, float]
    calibrator: str
    reason: str = ""
    #: What the number means: how often answers with this confidence were right, on what data.
    meaning: str = ""
    #: Why the confidence is low although most models agree, or why the answer shown has
    #: fewer models behind it than another ("" when neither is the case).
    caveat: str = ""

    @classmethod
    def none(
        cls, reason: str, *, calibrator: str, features: Mapping[str, float] | None = None
    ) -> Consensus:
        """No consensus, with the reason in plain words."""
        return cls(
            status=ConsensusStatus.NONE,
            model=None,
            text=None,
            confidence=0.0,
            raw_confidence=0.0,
            clusters=(),
            agreement={},
            dissenters=(),
            features=dict(features or {}),
            calibrator=calibrator,
            reason=reason,
        )

    @property
    def support(self) -> int:
        """How many members are in the consensus answer's cluster (itself included)."""
        for cluster in self.clusters:
            if self.model in cluster:
                return len(cluster)
        return 1 if self.model else 0

    @property
    def outvoted_by(self) -> int:
        """How many models agree on another answer when more do than agree with the one
        shown (0 otherwise): the answer shown stands against a bigger cluster."""
        rival = int(self.features.get("rival_support", 0))
        return rival if rival > self.support else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON; :meth:`from_dict` gives back an equal consensus."""
        return {
            **asdict(self),
            "status": self.status.value,
            "clusters": [list(x) for x in self.clusters],
            "agreement": dict(self.agreement),
            "dissenters": list(self.dissenters),
            "features": {k: float(v) for k, v in self.features.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Consensus:
        return cls(
            **{
                **data,
                "status": ConsensusStatus(data["status"]),
                "clusters": tuple(tuple(x) for x in data["clusters"]),
                "agreement": dict(data["agreement"]),
                "dissenters": tuple(data["dissenters"]),
                "features": dict(data["features"]),
            }
        )

    @property
    def label(self) -> str:
        """Plain-language confidence band ("high", "medium", "low", "single answer", "none")."""
        if self.status is ConsensusStatus.NONE:
            return "none"
        if self.status is ConsensusStatus.SINGLE:
            return "single answer"
        if self.confidence >= 0.7:
            return "high"
        if self.confidence >= 0.4:
            return "medium"
        return "low"


@dataclass(frozen=True)
class PanelRun:
    """One question put to the whole panel."""

    question: str
    answers: tuple[ModelAnswer, ...]
    started_at: datetime
    finished_at: datetime
    quorum: int = 2
    #: What every member was sent (None for runs recorded before it was kept).
    prompt: SentPrompt | None = None

    @property
    def usable(self) -> tuple[ModelAnswer, ...]:
        return tuple(a for a in self.answers if a.ok)

    @property
    def quorum_met(self) -> bool:
        return len(self.usable) >= self.quorum

    @property
    def latency_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    @property
    def cost_usd(self) -> float | None:
        costs = [a.cost_usd for a in self.answers if a.cost_usd is not None]
        return sum(costs) if costs else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON; :meth:`from_dict` gives back an equal run."""
        return {
            "question": self.question,
            "answers": [a.to_dict() for a in self.answers],
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "quorum": self.quorum,
            "prompt": self.prompt.to_json() if self.prompt is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PanelRun:
        return cls(
            question=str(data["question"]),
            answers=tuple(ModelAnswer.from_dict(a) for a in data["answers"]),
            started_at=datetime.fromisoformat(str(data["started_at"])),
            finished_at=datetime.fromisoformat(str(data["finished_at"])),
            quorum=int(data["quorum"]),
            prompt=SentPrompt.from_json(data["prompt"]) if data.get("prompt") else None,
        )
