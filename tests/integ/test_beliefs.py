"""The kit's verdict rules (integ/beliefs.py), with fixed observations: no AWS, no kit run."""

from __future__ import annotations

import pytest

from integ.beliefs import (
    BELIEFS,
    DrainObservation,
    Finding,
    FirstRelease,
    GoneRegistration,
    GroupListObservation,
    LaunchDeployment,
    ServiceRoleCalls,
    Verdict,
    agent_group_id,
    asg_list,
    first_release,
    launch_registers,
    register_gone,
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


def test_the_table_lists_every_belief_and_marks_unchecked_ones_not_reached():
    table = render({"U3-asg-list": Finding(Verdict.CONFIRMED, "unchanged")})
    for belief in BELIEFS:
        assert belief.check_id in table
    assert "U3-asg-list" in table and "CONFIRMED" in table
    assert table.count("NOT REACHED") == len(BELIEFS) - 1
