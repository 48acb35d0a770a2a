"""The panel/judge/shadow/schedule file (``quorum.yaml``), validated at start.

Models are listed in litellm's own ``model_list`` terms so a litellm proxy config can be
reused as is::

    panel:
      - model_name: fast
        litellm_params:
          model: openai/gpt-4o-mini
          api_key: os.environ/OPENAI_API_KEY
        weight: 1.0
        timeout: 30

Rate limits: a member's own ``rpm`` / ``tpm`` go in its ``litellm_params`` (as in a
litellm proxy); a limit several members share (one provider key) is a ``rate_limits``
entry naming them::

    rate_limits:
      - name: openai-main
        members: [fast, smart, judge]
        rpm: 3500
        tpm: 2000000

A typo or an unknown key fails with the file, the key and what was expected; an
``os.environ/NAME`` reference to a variable that is not set is named.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from evals.cases.sets import CasePolicy
from evals.errors import ConfigError, InputError
from evals.models.rate_limits import SharedLimit
from evals.records import PanelMember
from evals.user_files import read_text

ENV_PREFIX = "os.environ/"

#: litellm_params keys we pass through. Anything else is most likely a typo.
KNOWN_LITELLM_PARAMS = frozenset(
    {
        "model",
        "api_base",
        "api_key",
        "api_version",
        "organization",
        "custom_llm_provider",
        "base_model",
        "timeout",
        "stream_timeout",
        "max_retries",
        "temperature",
        "top_p",
        "max_tokens",
        "seed",
        "stop",
        "extra_headers",
        "extra_body",
        "headers",
        "drop_params",
        "input_cost_per_token",
        "output_cost_per_token",
        "rpm",
        "tpm",
        "region_name",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_region_name",
        "aws_session_token",
        "vertex_project",
        "vertex_location",
        "vertex_credentials",
        "reasoning_effort",
        "response_format",
    }
)

DEFAULT_SYSTEM_PROMPT = (
    "You are one member of a panel of assistants answering a question from an engineering "
    "team. Answer directly and concisely; state the key fact first."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(_Strict):
    """One entry of a litellm ``model_list`` plus Quorum's per-member settings."""

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]
    weight: float = Field(default=1.0, ge=0.0)
    timeout: float = Field(default=60.0, gt=0.0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("litellm_params")
    @classmethod
    def _check_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("model"), str) or not value["model"]:
            raise ValueError("needs `model`, litellm's model string (e.g. openai/gpt-4o-mini)")
        unknown = sorted(set(value) - KNOWN_LITELLM_PARAMS)
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(unknown)}; expected some of: "
                + ", ".join(sorted(KNOWN_LITELLM_PARAMS))
            )
        for key, unit in (("rpm", "requests"), ("tpm", "tokens")):
            limit = value.get(key)
            if limit is not None and (
                isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0
            ):
                raise ValueError(
                    f"`{key}` must be a positive number of {unit} a minute (got {limit!r})"
                )
        return value


class JudgeConfig(_Strict):
    model_name: str = Field(default="judge", min_length=1)
    litellm_params: dict[str, Any] | None = None
    rubric: str = "default"
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    timeout: float = Field(default=60.0, gt=0.0)

    @field_validator("litellm_params")
    @classmethod
    def _check_params(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            ModelEntry._check_params(value)
        return value


class ConsensusConfig(_Strict):
    quorum: int = Field(default=2, ge=1, description="Usable answers needed for a consensus.")
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, gt=0)
    calibrator: Path | None = None
    refit_min_labels: int = Field(
        default=50, ge=10, description="Production labels needed before the weekly refit."
    )


class LimitsConfig(_Strict):
    max_question_chars: int = Field(default=4000, gt=0)
    per_user_requests: int = Field(default=10, gt=0)
    per_user_window_minutes: int = Field(default=10, gt=0)
    daily_budget_usd: float | None = Field(default=None, gt=0)


class ScheduleConfig(_Strict):
    timezone: str = "UTC"
    benchmark: str | None = "0 22 * * sun"
    digest: str | None = "0 9 * * mon"
    grace_minutes: int = Field(default=360, ge=0)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; expected e.g. Europe/Berlin") from exc
        return value


class SlackConfig(_Strict):
    digest_channel: str | None = None
    review_channel: str | None = None
    reviewers: list[str] = Field(default_factory=list)
    reviewer_group: str | None = None
    show_thread_answers: bool = True


class RateLimitConfig(_Strict):
    """A limit several members share: one provider key's requests / tokens a minute."""

    name: str = Field(min_length=1)
    members: list[str] = Field(min_length=1)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimitConfig:
        if self.rpm is None and self.tpm is None:
            raise ValueError("give `rpm` (requests a minute), `tpm` (tokens a minute) or both")
        return self


class QuorumConfig(_Strict):
    panel: list[ModelEntry] = Field(min_length=1)
    judge: JudgeConfig | None = None
    shadow: list[ModelEntry] = Field(default_factory=list)
    consensus: ConsensusConfig = Field(default_factory=ConsensusConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    cases: CasePolicy = Field(default_factory=CasePolicy)
    rate_limits: list[RateLimitConfig] = Field(default_factory=list)
    source: Literal["file", "inline"] = "inline"

    @field_validator("panel")
    @classmethod
    def _unique_names(cls, value: list[ModelEntry]) -> list[ModelEntry]:
        names = [m.model_name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model_name must be unique; repeated: {', '.join(dupes)}")
        return value

    @field_validator("rate_limits")
    @classmethod
    def _limits_name_members(
        cls, value: list[RateLimitConfig], info: ValidationInfo
    ) -> list[RateLimitConfig]:
        entries = [*info.data.get("panel", ()), *info.data.get("shadow", ())]
        names = [m.model_name for m in entries]
        judge = info.data.get("judge")
        if judge is not None:
            names.append(judge.model_name)
        labels = [limit.name for limit in value]
        repeated = sorted({n for n in labels if labels.count(n) > 1})
        if repeated:
            raise ValueError(f"each name once; repeated: {', '.join(repeated)}")
        for limit in value:
            unknown = [m for m in limit.members if m not in names]
            if unknown and names:
                raise ValueError(
                    f"{limit.name} names no model called {', '.join(unknown)}; "
                    f"the models are: {', '.join(names)}"
                )
        return value

    def shared_limits(self) -> list[SharedLimit]:
        """The ``rate_limits`` entries, for :class:`~evals.models.rate_limits.RateLimiter`."""
        return [
            SharedLimit(limit.name, frozenset(limit.members), limit.rpm, limit.tpm)
            for limit in self.rate_limits
        ]

    def config_hash(self) -> str:
        """SHA-256 of the canonical config, as written (secrets stay as env references)."""
        # No rate_limits: the same hash as before they existed.
        exclude = {"source"} | (set() if self.rate_limits else {"rate_limits"})
        canonical = json.dumps(
            self.model_dump(mode="json", exclude=exclude), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def panel_members(
        self, env: Mapping[str, str] | None = None, *, secrets: bool = True
    ) -> list[PanelMember]:
        """The panel; ``secrets=False`` leaves out every ``os.environ/NAME`` parameter
        instead of resolving it, for a command that calls no model."""
        return [to_member(e, self.consensus, env, secrets=secrets) for e in self.panel]

    def shadow_members(
        self, env: Mapping[str, str] | None = None, *, secrets: bool = True
    ) -> list[PanelMember]:
        return [to_member(e, self.consensus, env, secrets=secrets) for e in self.shadow]

    def env_references(self) -> list[tuple[str, str]]:
        """Every ``os.environ/NAME`` reference as (where, NAME)."""
        refs: list[tuple[str, str]] = []
        entries: list[tuple[str, Mapping[str, Any]]] = [
            (f"panel[{e.model_name}]", e.litellm_params) for e in self.panel
        ] + [(f"shadow[{e.model_name}]", e.litellm_params) for e in self.shadow]
        if self.judge and self.judge.litellm_params:
            entries.append(("judge", self.judge.litellm_params))
        for where, params in entries:
            for key, value in params.items():
                name = env_reference(value)
                if name is not None:
                    refs.append((f"{where}.litellm_params.{key}", name))
        return refs


def env_reference(value: object) -> str | None:
    """The variable an ``os.environ/NAME`` value refers to; None for any other value."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        return value[len(ENV_PREFIX) :]
    return None


def resolve_params(
    params: Mapping[str, Any], where: str, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Replace ``os.environ/NAME`` values by the variable's value; name what is missing."""
    env = os.environ if env is None else env
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = env_reference(value)
        if name is not None:
            if name not in env or not env[name]:
                raise ConfigError(
                    f"{where}.litellm_params.{key} refers to the environment variable {name}, "
                    f"which is not set. Set {name} (in the environment or .env)."
                )
            out[key] = env[name]
        else:
            out[key] = value
    return out


def to_member(
    entry: ModelEntry,
    defaults: ConsensusConfig,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> PanelMember:
    if secrets:
        params = resolve_params(entry.litellm_params, f"model {entry.model_name!r}", env)
    else:
        params = {
            k: v
            for k, v in entry.litellm_params.items()
            if k == "model" or env_reference(v) is None
        }
    model = params.pop("model")
    temperature = entry.temperature
    if temperature is None:
        temperature = params.pop("temperature", defaults.temperature)
    max_tokens = entry.max_tokens
    if max_tokens is None:
        max_tokens = params.pop("max_tokens", defaults.max_tokens)
    params.pop("timeout", None)
    return PanelMember(
        name=entry.model_name,
        model=model,
        params=params,
        weight=entry.weight,
        timeout_s=entry.timeout,
        temperature=temperature,
        max_tokens=max_tokens,
        max_retries=entry.max_retries,
    )


def _format_error(path: Path, err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    if err.get("type") == "extra_forbidden":
        parent = ".".join(str(p) for p in err["loc"][:-1]) or "the top level"
        expected = _expected_keys(tuple(err["loc"][:-1]))
        hint = f"; expected one of: {', '.join(expected)}" if expected else ""
        return f"{path}: unknown key `{loc}` in {parent}{hint}"
    if err.get("type") == "missing":
        return f"{path}: `{loc}` is required"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{path}: `{loc}`: {msg}"


#: Fields Quorum sets itself, never written in quorum.yaml.
_INTERNAL_KEYS = frozenset({"source"})


def _expected_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = QuorumConfig
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = _model_of(field.annotation)
    if model is None:
        return []
    return sorted(name for name in model.model_fields if name not in _INTERNAL_KEYS)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def parse_config(data: Any, path: Path = Path("quorum.yaml")) -> QuorumConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with a `panel:` list at the top level")
    try:
        return QuorumConfig.model_validate({**data, "source": "file"})
    except ValidationError as exc:
        lines = [_format_error(path, e) for e in exc.errors()]
        if len(lines) == 1:  # shown after "Configuration problem:", so no heading of its own
            raise ConfigError(lines[0]) from None
        raise ConfigError(f"{len(lines)} problems:\n  " + "\n  ".join(lines)) from None


#: quorum.yaml is a few kilobytes; a file this large is a mistake.
MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: Path) -> QuorumConfig:
    """Read and validate ``quorum.yaml``. Raises :class:`ConfigError` with friendly text."""
    if not path.exists():
        raise ConfigError(
            f"{path}: no such file. Start from the commented quorum.yaml in Quorum's "
            "repository (the README's Configuration section lists every key), or set "
            "QUORUM_CONFIG to your file."
        )
    try:
        data = yaml.safe_load(read_text(path, max_bytes=MAX_CONFIG_BYTES))
    except InputError as exc:
        raise ConfigError(exc.user_message) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_config(data, path)
