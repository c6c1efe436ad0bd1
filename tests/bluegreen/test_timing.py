"""Traffic-step estimates follow docs/decisions.md F7."""

from __future__ import annotations

from bluegreen.config import load_config
from bluegreen.timing import ALB_DEFAULTS, TrafficTiming


def test_tuned_defaults_take_about_15_and_45_seconds() -> None:
    config = load_config({})
    timing = TrafficTiming.of(config.health_check, config.deregistration_delay_seconds)
    assert (timing.allow_traffic_seconds, timing.block_traffic_seconds) == (15, 45)


def test_alb_defaults_take_minutes() -> None:
    assert (ALB_DEFAULTS.allow_traffic_seconds, ALB_DEFAULTS.block_traffic_seconds) == (180, 480)


def test_block_traffic_adds_the_deregistration_delay_to_the_health_check_time() -> None:
    timing = TrafficTiming(interval_seconds=10, healthy_threshold=3, deregistration_delay_seconds=0)
    assert timing.block_traffic_seconds == timing.allow_traffic_seconds == 40
