"""The kit's verdict rules (integ/beliefs.py), with fixed observations: no AWS, no kit run."""

from __future__ import annotations

import pytest

from bluegreen.timing import ModelRow
from integ.beliefs import (
    BELIEFS,
    DrainObservation,
    Finding,
    FirstRelease,
    GoneRegistration,
    GroupListObservation,
    LaunchDeployment,
    ServiceRoleCalls,
    TimedRelease,
    Verdict,
    agent_group_id,
    asg_list,
    first_release,
    launch_registers,
    register_gone,
    release_model_holds,
    render,
    service_role_launch,
    ss_keepalive,
)


def release(
    original: int = 0, kind: str | None = "BLUE_GREEN", status: str | None = "Succeeded", code: str | None = None
):
    return FirstRelease(original_instances=original, deployment_type=kind, status=status, error_code=code)


@pytest.mark.parametrize(
    ("observed", "verdict"),
    [
        (release(), Verdict.CONFIRMED),
        (release(status="Failed", code="NO_INSTANCES"), Verdict.REFUTED),
        (release(status="Failed", code="HEALTH_CONSTRAINTS"), Verdict.NOT_REACHED),
        (release(original=2), Verdict.NOT_REACHED),
        (release(kind="IN_PLACE"), Verdict.NOT_REACHED),
        (release(status=None), Verdict.NOT_REACHED),
        (None, Verdict.NOT_REACHED),
    ],
)
def test_first_release_is_judged_only_when_the_original_slot_was_empty_and_blue_green(observed, verdict):
    assert first_release(observed).verdict is verdict


@pytest.mark.parametrize(
    ("events", "verdict"),
    [
        ({"Install": "Succeeded", "AllowTraffic": "Succeeded"}, Verdict.CONFIRMED),
        ({"Install": "Succeeded", "AllowTraffic": "Skipped"}, Verdict.REFUTED),
        ({"Install": "Succeeded", "ValidateService": "Succeeded"}, Verdict.REFUTED),
        ({"AllowTraffic": "Failed"}, Verdict.NOT_REACHED),
    ],
)
def test_a_launch_deployment_registers_the_instance_when_its_allow_traffic_event_succeeds(events, verdict):
    assert launch_registers(LaunchDeployment(events)).verdict is verdict


def test_no_launch_deployment_leaves_the_registration_belief_unreached():
    assert launch_registers(None).verdict is Verdict.NOT_REACHED


def poll(status: str, *groups: str) -> GroupListObservation:
    return GroupListObservation(status, groups)


def test_the_list_unchanged_when_the_deployment_has_succeeded_confirms_the_belief():
    polls = [poll("InProgress", "slot-a"), poll("Succeeded", "slot-a"), poll("Succeeded", "slot-b")]
    assert asg_list(["slot-a"], polls).verdict is Verdict.CONFIRMED


def test_a_list_changed_while_the_deployment_runs_refutes_the_belief():
    polls = [poll("InProgress", "slot-a"), poll("InProgress", "slot-b"), poll("Succeeded", "slot-b")]
    finding = asg_list(["slot-a"], polls)
    assert finding.verdict is Verdict.REFUTED
    assert "slot-b" in finding.reason


def test_a_list_already_changed_at_the_first_success_poll_cannot_be_attributed():
    polls = [poll("InProgress", "slot-a"), poll("Succeeded", "slot-b")]
    assert asg_list(["slot-a"], polls).verdict is Verdict.NOT_REACHED


def test_no_success_poll_leaves_the_list_belief_unreached():
    assert asg_list(["slot-a"], [poll("InProgress", "slot-a")]).verdict is Verdict.NOT_REACHED


@pytest.mark.parametrize(
    ("tails", "verdict"),
    [
        (["[stdout]KIT-DEPLOYMENT_GROUP_ID=5f3c-42\n"], Verdict.CONFIRMED),
        (["[stdout]KIT-DEPLOYMENT_GROUP_ID=unset\n"], Verdict.REFUTED),
        (["[stdout]KIT-DEPLOYMENT_GROUP_ID=other\n"], Verdict.REFUTED),
        (["", "[stderr]something else\n"], Verdict.NOT_REACHED),
        ([], Verdict.NOT_REACHED),
    ],
)
def test_the_hook_environment_belief_is_read_from_the_failing_hooks_log_tail(tails, verdict):
    assert agent_group_id(tails, "5f3c-42").verdict is verdict


@pytest.mark.parametrize(
    ("observed", "verdict"),
    [
        (DrainObservation(wait_seconds=14, requests_served=300), Verdict.CONFIRMED),
        (DrainObservation(wait_seconds=61, requests_served=300), Verdict.REFUTED),
        (DrainObservation(wait_seconds=57, requests_served=300), Verdict.NOT_REACHED),
        (DrainObservation(wait_seconds=14, requests_served=0), Verdict.NOT_REACHED),
        (None, Verdict.NOT_REACHED),
    ],
)
def test_the_keepalive_belief_compares_the_drain_with_its_bound(observed, verdict):
    assert ss_keepalive(observed, delay_seconds=60, poll_seconds=5).verdict is verdict


@pytest.mark.parametrize(
    ("observed", "verdict"),
    [
        (ServiceRoleCalls(("PutLifecycleHook", "DescribeAutoScalingGroups"), 1800), Verdict.CONFIRMED),
        (ServiceRoleCalls(("PutLifecycleHook", "UpdateAutoScalingGroup"), 1800), Verdict.REFUTED),
        (ServiceRoleCalls(("RunInstances",), 60), Verdict.REFUTED),
        (ServiceRoleCalls(("PutLifecycleHook",), 60), Verdict.NOT_REACHED),
        (None, Verdict.NOT_REACHED),
    ],
)
def test_the_service_role_belief_is_refuted_by_any_launch_template_call_and_needs_cloudtrails_delay(observed, verdict):
    assert service_role_launch(observed).verdict is verdict


@pytest.mark.parametrize(
    ("observed", "verdict"),
    [
        (GoneRegistration("InvalidTarget"), Verdict.CONFIRMED),
        (GoneRegistration(None), Verdict.REFUTED),
        (GoneRegistration("Throttling"), Verdict.NOT_REACHED),
        (None, Verdict.NOT_REACHED),
    ],
)
def test_registering_a_terminated_instance_confirms_the_belief_only_with_invalid_target(observed, verdict):
    assert register_gone(observed).verdict is verdict


def row(phase: str, modelled: int, measured: float | None) -> ModelRow:
    return ModelRow(phase, modelled, measured, "as the report measures it")


def timed(
    provisioning: float | None = 92,
    release_seconds: float | None = 168,
    *,
    overrides: dict | None = None,
    exit_code: int = 0,
    first: bool = False,
) -> TimedRelease:
    """A release as its summary reports it: the default model's figures beside what it measured."""
    phases = (
        row("provisioning", 100, provisioning),
        row("install", 20, 18),
        row("AllowTraffic", 20, 22),
        row("BlockTraffic", 30, 33),
        row("drain", 5, None),
        row("termination", 30, None),
        row("release", 170, release_seconds),
    )
    return TimedRelease(exit_code, first, phases, overrides or {})


def test_a_release_within_its_model_confirms_it():
    finding = release_model_holds(timed(release_seconds=169.6))
    assert finding.verdict is Verdict.CONFIRMED
    assert "released in 170 s, modelled 170 s" in finding.reason
    assert "provisioning 100 → 92 s" in finding.reason and "drain 5 s (not measured)" in finding.reason


def test_a_release_over_its_model_refutes_it_and_names_the_phase_that_overran():
    # Given a release whose instances took 160 s to become InService, where the model assumes 100 s
    finding = release_model_holds(timed(provisioning=160, release_seconds=236))
    # Then the reason names provisioning as the phase over its figure (and the traffic steps, a few s over), with all
    assert finding.verdict is Verdict.REFUTED
    assert "released in 236 s, modelled 170 s" in finding.reason
    assert "over the model: provisioning by 60 s, AllowTraffic by 2 s, BlockTraffic by 3 s" in finding.reason
    assert "release 170 → 236 s" in finding.reason


def test_one_second_over_the_model_refutes_it():
    assert release_model_holds(timed(release_seconds=171)).verdict is Verdict.REFUTED


def test_a_slow_release_whose_phases_each_kept_their_figures_says_the_time_went_between_them():
    slow_gaps = TimedRelease(0, False, (row("provisioning", 100, 90), row("release", 170, 200)), {})
    finding = release_model_holds(slow_gaps)
    assert finding.verdict is Verdict.REFUTED
    assert "no phase overran its figure" in finding.reason


@pytest.mark.parametrize(
    ("observed", "why"),
    [
        (None, "no release summary"),
        (timed(overrides={"promotionGate": True}), "the stack sets promotionGate"),
        (timed(release_seconds=None), "no measured release time"),
        (TimedRelease(0, False, (), {}), "no release-time model"),
        (timed(exit_code=1), "exit 1"),
        (timed(first=True), "first release"),
    ],
)
def test_a_failed_first_gated_or_unmeasured_release_leaves_the_model_unreached(observed, why):
    finding = release_model_holds(observed)
    assert finding.verdict is Verdict.NOT_REACHED
    assert why in finding.reason


def test_an_unreached_model_still_reports_the_measured_phases():
    finding = release_model_holds(timed(exit_code=1))
    assert "AllowTraffic 20 → 22 s" in finding.reason


def test_any_stack_decides_it_since_the_model_is_built_for_the_releases_own_settings():
    # Given the kit's own stack (one instance per slot, a 60 s delay): its release carries a model for those settings
    finding = release_model_holds(timed(overrides={"fleetDesiredSize": 1, "deregistrationDelaySeconds": 60}))
    # Then it decides the belief
    assert finding.verdict is Verdict.CONFIRMED


def test_the_table_lists_every_belief_and_marks_unchecked_ones_not_reached():
    table = render({"U3-asg-list": Finding(Verdict.CONFIRMED, "unchanged")})
    for belief in BELIEFS:
        assert belief.check_id in table
    assert "U3-asg-list" in table and "CONFIRMED" in table
    assert table.count("NOT REACHED") == len(BELIEFS) - 1
