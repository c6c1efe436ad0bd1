"""The demo's release-time model reads the synthesized template (issue 13)."""

from __future__ import annotations

import pytest

from bluegreen.config import load_config
from scripts.demo import release_time_model, template_timing
from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.slow


def test_the_model_takes_the_traffic_timing_from_the_target_group(default_stack: Synthesized) -> None:
    timing = template_timing(default_stack.template.to_json())
    assert (timing.interval_seconds, timing.healthy_threshold, timing.deregistration_delay_seconds) == (5, 2, 30)


def test_the_model_prints_each_phase_and_the_release_against_aws_defaults(default_stack: Synthesized) -> None:
    text = release_time_model(default_stack.template.to_json(), load_config({}))
    assert "AllowTraffic         20 s          70 s" in text
    assert "release        2 min 50 s    8 min 10 s" in text
    assert "upper bound    3 min 15 s   16 min 00 s" in text
    assert "warm pool: off" in text


def test_the_model_shows_the_one_batch_and_the_warm_pool_paths_beside_the_default(default_stack: Synthesized) -> None:
    # When
    lines = release_time_model(default_stack.template.to_json(), load_config({})).splitlines()
    # Then one batch saves an install and an AllowTraffic step (20 s); a warm pool 70 s of provisioning
    paths = {line.split()[0]: line for line in lines if line.startswith("    ")}
    assert "2 min 30 s" in paths["deploymentConfigName=CodeDeployDefault.AllAtOnce"]
    assert "1 min 40 s" in paths["warmPoolSize=2"]
