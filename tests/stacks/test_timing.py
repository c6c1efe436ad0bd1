"""Traffic-step estimates follow DESIGN F7."""

from __future__ import annotations

from stacks.config import load_config
from stacks.timing import TrafficSteps, default_steps, traffic_steps, tuned_steps


def test_tuned_defaults_take_about_15_and_45_seconds() -> None:
    config = load_config({})
    assert tuned_steps(config.health_check, config.deregistration_delay_seconds) == TrafficSteps(15, 45)


def test_alb_defaults_take_minutes() -> None:
    assert default_steps() == TrafficSteps(allow_traffic_seconds=180, block_traffic_seconds=480)


def test_block_traffic_adds_the_deregistration_delay_to_the_health_check_time() -> None:
    steps = traffic_steps(interval_seconds=10, healthy_threshold=3, deregistration_delay_seconds=0)
    assert steps.block_traffic_seconds == steps.allow_traffic_seconds == 40
