"""Traffic-step figures: expected from F85 and F107, bounded by F7; the release-time model built from them."""

from __future__ import annotations

from bluegreen.config import load_config
from bluegreen.timing import (
    ALB_DEFAULTS,
    DRAIN_SECONDS,
    REGISTRATION_SECONDS,
    TERMINATION_SECONDS,
    ReleaseModel,
    TrafficTiming,
    deployment_batches,
    release_model,
)


def test_tuned_defaults_are_bounded_by_15_and_45_seconds() -> None:
    config = load_config({})
    timing = TrafficTiming.of(config.health_check, config.deregistration_delay_seconds)
    assert (timing.allow_traffic_seconds, timing.block_traffic_seconds) == (15, 45)


def test_alb_defaults_are_bounded_by_minutes() -> None:
    assert (ALB_DEFAULTS.allow_traffic_seconds, ALB_DEFAULTS.block_traffic_seconds) == (180, 480)


def test_a_new_target_is_expected_in_service_after_its_registration_and_one_interval() -> None:
    # One passing health check puts a newly registered target in service (F85), whatever the healthy threshold
    for threshold in (2, 5, 10):
        timing = TrafficTiming(interval_seconds=10, healthy_threshold=threshold, deregistration_delay_seconds=30)
        assert timing.expected_allow_traffic_seconds == REGISTRATION_SECONDS + 10


def test_block_traffic_is_expected_to_last_the_deregistration_delay_and_nothing_of_the_health_check() -> None:
    # Under keep-alive a deregistered target drains for the whole delay (F13, F107); the seed saw about 5 minutes at
    # the ALB's 300 s default, not the 8 the bound gives
    assert ALB_DEFAULTS.expected_block_traffic_seconds == 300
    timing = TrafficTiming(interval_seconds=30, healthy_threshold=10, deregistration_delay_seconds=0)
    assert timing.expected_block_traffic_seconds == 0 < timing.block_traffic_seconds


def test_the_expected_figures_never_exceed_the_bounds() -> None:
    for interval in (5, 10, 30, 300):
        for threshold in (2, 5, 10):
            for delay in (0, 30, 300, 3600):
                timing = TrafficTiming(interval, threshold, delay)
                assert timing.expected_allow_traffic_seconds <= timing.allow_traffic_seconds
                assert timing.expected_block_traffic_seconds <= timing.block_traffic_seconds


def test_block_traffic_adds_the_deregistration_delay_to_the_health_check_time() -> None:
    timing = TrafficTiming(interval_seconds=10, healthy_threshold=3, deregistration_delay_seconds=0)
    assert timing.block_traffic_seconds == timing.allow_traffic_seconds == 40


# -- the release-time model (issue 13) ---------------------------------------------------------------------------------


def _defaults_model(*, warm_pool: bool = False) -> ReleaseModel:
    config = load_config({})
    return release_model(
        TrafficTiming.of(config.health_check, config.deregistration_delay_seconds),
        instances=config.fleet.desired,
        deployment_config_name=config.deployment_config_name,
        warm_pool=warm_pool,
    )


def test_a_two_instance_release_with_the_defaults_is_modelled_at_2_minutes_50_and_bounded_by_3_minutes_15() -> None:
    # cold provisioning 100 + install 2 x 10 + AllowTraffic 2 x (5 + 5) + BlockTraffic 30
    model = _defaults_model()
    assert model.release_seconds == 170
    # the same with each traffic step at its bound: AllowTraffic 2 x 15, BlockTraffic 45
    assert model.release_bound_seconds == 195


def test_a_warm_pool_cuts_provisioning_to_a_start_from_stopped() -> None:
    assert _defaults_model(warm_pool=True).release_seconds == 100


def test_alb_defaults_make_the_same_release_take_8_minutes_and_at_worst_16() -> None:
    model = release_model(ALB_DEFAULTS, instances=2, deployment_config_name="CodeDeployDefault.OneAtATime")
    assert model.release_seconds == 100 + 2 * 10 + 2 * (REGISTRATION_SECONDS + 30) + 300
    assert model.release_bound_seconds == 100 + 2 * 10 + 2 * 180 + 480


def test_drain_and_termination_follow_the_release_off_its_critical_path() -> None:
    model = _defaults_model()
    assert model.until_old_slot_empty_seconds - model.release_seconds == DRAIN_SECONDS + TERMINATION_SECONDS


def test_every_phase_names_its_source() -> None:
    assert all(phase.source for phase in _defaults_model().phases)


def test_all_at_once_deploys_every_instance_in_one_batch_and_one_at_a_time_in_as_many_as_instances() -> None:
    assert [
        deployment_batches("CodeDeployDefault.AllAtOnce", 4),
        deployment_batches("CodeDeployDefault.HalfAtATime", 4),
        deployment_batches("CodeDeployDefault.OneAtATime", 4),
        deployment_batches("CodeDeployDefault.OneAtATime", 1),
    ] == [1, 2, 4, 1]
