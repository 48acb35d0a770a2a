"""quorum.yaml validation: what an operator sees when the file is wrong."""

import re
from pathlib import Path

import pytest

from bot.runtime.config import load_config, parse_config
from evals.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]

MINIMAL = {
    "panel": [
        {
            "model_name": "fast",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_base": "http://127.0.0.1:9/v1",
                "api_key": "os.environ/TEST_KEY",
            },
            "weight": 2.0,
            "timeout": 12,
        }
    ]
}


def _error(data: object, tmp_path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, Path("quorum.yaml"))
    return info.value.user_message


def test_example_config_in_the_repo_is_valid() -> None:
    config = load_config(REPO / "quorum.yaml")
    assert [m.model_name for m in config.panel]
    assert config.schedule.timezone == "UTC"


def test_members_resolve_env_references_and_carry_per_member_settings() -> None:
    config = parse_config(MINIMAL)
    (member,) = config.panel_members({"TEST_KEY": "sk-secret-value-123"})
    assert member.name == "fast"
    assert member.model == "openai/gpt-4o-mini"
    assert member.params["api_key"] == "sk-secret-value-123"
    assert member.params["api_base"] == "http://127.0.0.1:9/v1"
    assert member.weight == 2.0 and member.timeout_s == 12
    assert member.temperature == config.consensus.temperature
    assert member.max_tokens == config.consensus.max_tokens
    assert "sk-secret-value-123" not in repr(member)


def test_missing_env_var_is_named_with_where_it_is_used() -> None:
    config = parse_config(MINIMAL)
    with pytest.raises(ConfigError) as info:
        config.panel_members({})
    message = info.value.user_message
    assert "TEST_KEY" in message and "fast" in message and "api_key" in message


def test_unknown_top_level_key_names_the_file_the_key_and_what_was_expected() -> None:
    message = _error({**MINIMAL, "pannel": []})
    assert "quorum.yaml" in message
    assert "pannel" in message
    assert "panel" in message and "schedule" in message  # the expected keys


def test_typo_in_a_panel_entry_is_located() -> None:
    entry = {**MINIMAL["panel"][0], "wieght": 1}
    message = _error({"panel": [entry]})
    assert "panel.0.wieght" in message
    assert "weight" in message


def test_unknown_litellm_param_is_rejected_with_the_expected_keys() -> None:
    entry = {"model_name": "x", "litellm_params": {"model": "openai/x", "api_bse": "http://h"}}
    message = _error({"panel": [entry]})
    assert "api_bse" in message and "api_base" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"panel": []}, "panel"),
        ({"panel": [{"model_name": "x", "litellm_params": {}}]}, "model"),
        ({"panel": [MINIMAL["panel"][0], MINIMAL["panel"][0]]}, "unique"),
        ({**MINIMAL, "schedule": {"timezone": "Mars/Olympus"}}, "time zone"),
        ({**MINIMAL, "limits": {"max_question_chars": 0}}, "max_question_chars"),
        ([1, 2], "mapping"),
    ],
)
def test_invalid_values_get_a_clear_message(data: object, expected: str) -> None:
    assert expected in _error(data)


def test_yaml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "quorum.yaml"
    path.write_text("panel:\n  - model_name: a\n    litellm_params: {model: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "line" in info.value.user_message and str(path) in info.value.user_message


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    message = info.value.user_message
    assert "QUORUM_CONFIG" in message
    # The file it tells people to start from is one the repository has.
    suggested = set(re.findall(r"[\w.-]+\.yaml", message)) - {"nope.yaml"}
    assert suggested and all((REPO / name).is_file() for name in suggested)


def test_config_hash_is_stable_and_never_contains_resolved_secrets() -> None:
    a = parse_config(MINIMAL)
    b = parse_config(MINIMAL)
    assert a.config_hash() == b.config_hash()
    changed = parse_config({**MINIMAL, "consensus": {"quorum": 3}})
    assert changed.config_hash() != a.config_hash()
    assert "os.environ/TEST_KEY" in a.model_dump_json()


def _with_params(**params: object) -> dict[str, object]:
    entry = dict(MINIMAL["panel"][0])
    entry["litellm_params"] = {**entry["litellm_params"], **params}  # type: ignore[dict-item]
    return {"panel": [entry]}


def test_member_and_shared_rate_limits_are_read_where_users_put_them() -> None:
    config = parse_config(
        {
            **_with_params(rpm=300, tpm=90000),
            "judge": {"model_name": "judge"},
            "rate_limits": [{"name": "openai-main", "members": ["fast", "judge"], "tpm": 2e6}],
        }
    )
    member = config.panel_members({"TEST_KEY": "sk"})[0]
    assert (member.params["rpm"], member.params["tpm"]) == (300, 90000)
    [shared] = config.shared_limits()
    assert (shared.name, shared.members, shared.rpm, shared.tpm) == (
        "openai-main",
        frozenset({"fast", "judge"}),
        None,
        2e6,
    )
    # no rate_limits: the config's hash is what it was before they existed
    assert (
        parse_config(MINIMAL).config_hash()
        == parse_config({**MINIMAL, "rate_limits": []}).config_hash()
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            _with_params(rpm="lots"),
            "`panel.0.litellm_params`: `rpm` must be a positive number of requests a minute "
            "(got 'lots')",
        ),
        (
            _with_params(tpm=0),
            "`tpm` must be a positive number of tokens a minute (got 0)",
        ),
        (
            {**MINIMAL, "rate_limits": [{"name": "key", "members": ["fast", "slow"], "rpm": 5}]},
            "`rate_limits`: key names no model called slow; the models are: fast",
        ),
        (
            {**MINIMAL, "rate_limits": [{"name": "key", "members": ["fast"]}]},
            "`rate_limits.0`: give `rpm` (requests a minute), `tpm` (tokens a minute) or both",
        ),
        (
            {**MINIMAL, "rate_limits": [{"name": "key", "members": ["fast"], "rpm": -5}]},
            "`rate_limits.0.rpm`: Input should be greater than 0",
        ),
        (
            {
                **MINIMAL,
                "rate_limits": [
                    {"name": "key", "members": ["fast"], "rpm": 5},
                    {"name": "key", "members": ["fast"], "tpm": 5},
                ],
            },
            "`rate_limits`: each name once; repeated: key",
        ),
        (
            {**MINIMAL, "rate_limits": [{"name": "key", "members": ["fast"], "rps": 5}]},
            "unknown key `rate_limits.0.rps` in rate_limits.0; expected one of: members, name, "
            "rpm, tpm",
        ),
    ],
)
def test_rate_limit_mistakes_get_a_clear_message(data: object, expected: str) -> None:
    assert expected in _error(data)
