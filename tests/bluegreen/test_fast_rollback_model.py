"""The fast rollback's model (issue 14 §1): from the target group's health check, against the 30 s goal."""

from __future__ import annotations

from bluegreen.config import load_config
from bluegreen.timing import ALB_DEFAULTS, REGISTRATION_SECONDS, TrafficTiming, fast_rollback_model


def test_the_default_stack_rolls_back_inside_the_bake_window_within_30_seconds() -> None:
    # Given the project's default health check (interval 5 s, healthy threshold 2) and deregistration delay
    config = load_config({})
    timing = TrafficTiming.of(config.health_check, config.deregistration_delay_seconds)
    # When modelling the fast rollback
    model = fast_rollback_model(timing)
    # Then it is registration + healthy threshold x interval + interval = 5 + 15 s, within the goal
    assert model.seconds == REGISTRATION_SECONDS + 2 * 5 + 5 == 20
    assert model.within_goal
    assert "≈ 20 s" in model.describe() and "met" in model.describe()


def test_the_albs_default_health_check_would_miss_the_goal_by_minutes() -> None:
    # Given the ALB's defaults (interval 30 s, healthy threshold 5)
    # When modelling the fast rollback
    model = fast_rollback_model(ALB_DEFAULTS)
    # Then it takes 185 s and the description says the goal is not met, and what to change
    assert model.seconds == 185
    assert not model.within_goal
    assert "NOT met" in model.describe()
