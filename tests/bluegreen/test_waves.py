"""The setting `waves` (bluegreen.stages.load_waves): promote-waves' default waves, validated against the stages."""

from __future__ import annotations

from typing import Any

import pytest

from bluegreen.config import ConfigError
from bluegreen.stages import load_stages, load_waves

STAGES = [
    {"name": "staging", "region": "eu-west-1"},
    {"name": "production-eu", "region": "eu-west-1"},
    {"name": "production-us", "region": "us-east-1"},
    {"name": "production-ap", "region": "ap-southeast-2"},
]


def _waves(waves: Any) -> tuple[tuple[str, ...], ...] | None:
    context = {"stages": STAGES, "waves": waves}
    stages = load_stages(context)
    assert stages is not None
    return load_waves(context, stages)


def test_declared_waves_keep_their_order_and_the_order_of_stages_within_each() -> None:
    assert _waves([["production-eu"], ["production-us", "production-ap"]]) == (
        ("production-eu",),
        ("production-us", "production-ap"),
    )


def test_waves_given_as_json_text_on_the_command_line_read_the_same() -> None:
    assert _waves('[["production-eu"], ["production-us"]]') == (("production-eu",), ("production-us",))


def test_a_project_with_stages_but_no_waves_has_none() -> None:
    stages = load_stages({"stages": STAGES})
    assert stages is not None
    assert load_waves({"stages": STAGES}, stages) is None
    assert load_waves({"stages": STAGES, "waves": None}, stages) is None


@pytest.mark.parametrize(
    ("waves", "message"),
    [
        ([["production-eu"], ["production-mars"]], "wave 2: stage 'production-mars' is not declared"),
        ([["production-eu"], ["productoin-us"]], "did you mean production-us"),
        ([["production-eu", "production-us"], ["production-us"]], "wave 2: stage 'production-us' is already in wave 1"),
        ([["production-eu"], []], "wave 2: .* must be a non-empty list"),
        ([["production-eu"], "production-us"], "wave 2: 'production-us' must be a non-empty list"),
        ([], "must be a non-empty list of waves"),
        ("[[production-eu]]", "is not JSON"),
    ],
)
def test_a_wave_that_names_no_declared_stage_or_one_twice_is_refused_naming_wave_and_stage(
    waves: Any, message: str
) -> None:
    # Given waves that are wrong in one place, When the stages are loaded (as cdk synth and the release tool do),
    # Then the error names the setting, the wave and the stage
    with pytest.raises(ConfigError, match=message):
        load_stages({"stages": STAGES, "waves": waves})


def test_waves_without_stages_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"'waves' names stages, but cdk\.json declares none"):
        load_stages({"waves": [["production"]]})


def test_a_stage_cannot_set_waves_of_its_own() -> None:
    stages = [{**STAGES[0], "waves": [["staging"]]}, *STAGES[1:]]
    with pytest.raises(ConfigError, match="stage 'staging': key 'waves' belongs to the project"):
        load_stages({"stages": stages})
