"""Resolving the live slot from the deployment group, the target group and the last successful deployment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from release import live
from release.errors import ExitCode, LiveSlotUnclear, TargetsError
from release.live import Evidence, resolve
from release.runtime import Runtime

from tests.release.support import SLOT_A, SLOT_B, World

PAIR = (SLOT_A, SLOT_B)
A1, A2, B1, B2 = "i-0a00000000000001", "i-0a00000000000002", "i-0b00000000000001", "i-0b00000000000002"
MEMBERS = {A1: SLOT_A, A2: SLOT_A, B1: SLOT_B, B2: SLOT_B}
TG_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/site/0123456789abcdef"


def evidence(
    listed: tuple[str, ...],
    targets: dict[str, str] | None,
    *,
    last: str | None = None,
    bootstrap: str | None = None,
    members: dict[str, str] | None = None,
) -> Evidence:
    return Evidence(
        pair=PAIR,
        listed=listed,
        members=MEMBERS if members is None else members,
        targets=targets,
        last_success_id="d-LAST" if last else None,
        last_success_slot=last,
        bootstrap_slot=bootstrap,
    )


# --- the list and the load balancer agree ---------------------------------------------------------------------------


def test_a_group_listing_the_slot_the_target_group_serves_from_is_believed() -> None:
    # Given the group lists A and both of A's instances are healthy targets
    chosen = resolve(evidence((SLOT_A,), {A1: "healthy", A2: "healthy"}))
    # Then A is live, B idle, and nothing needs fixing
    assert (chosen.live, chosen.idle, chosen.point_group, chosen.checked) == (SLOT_A, SLOT_B, False, True)


def test_unhealthy_and_initial_targets_still_mark_the_slot_that_serves() -> None:
    # Given the group lists A and A's targets are initial / unhealthy (registered, so the load balancer routes to them)
    chosen = resolve(evidence((SLOT_A,), {A1: "initial", A2: "unhealthy"}))
    # Then A is live
    assert chosen.live == SLOT_A


def test_a_stale_last_deployment_does_not_override_a_list_the_load_balancer_confirms() -> None:
    # Given the last successful release put traffic on B, but the group lists A and only A is registered
    # (a hand-made rollback); today's code would "finish the switch" to B and empty A: an outage
    chosen = resolve(evidence((SLOT_A,), {A1: "healthy"}, last=SLOT_B))
    # Then A stays live and the note says why
    assert chosen.live == SLOT_A and not chosen.point_group
    assert any("agree on" in note for note in chosen.notes)


# --- disagreements that one more witness explains -------------------------------------------------------------------


def test_a_switch_left_undone_is_finished_when_the_load_balancer_confirms_it() -> None:
    # Given the group lists A, B's instances are registered and the last successful release put traffic on B
    chosen = resolve(evidence((SLOT_A,), {B1: "healthy", B2: "healthy"}, last=SLOT_B))
    # Then B is live and the group must be pointed at it
    assert (chosen.live, chosen.idle, chosen.point_group) == (SLOT_B, SLOT_A, True)


def test_a_group_listing_both_slots_is_resolved_by_the_target_group_and_the_last_success() -> None:
    # Given the group lists both slots, only B is registered, and the last successful release went to B
    chosen = resolve(evidence((SLOT_A, SLOT_B), {B1: "healthy"}, last=SLOT_B))
    # Then B is live and the group is pointed at B alone
    assert (chosen.live, chosen.point_group) == (SLOT_B, True)


def test_a_group_listing_no_slot_while_targets_serve_is_resolved_by_the_last_success() -> None:
    # Given the group lists nothing, but B is registered and the last successful release went to B
    chosen = resolve(evidence((), {B1: "healthy"}, last=SLOT_B))
    # Then B is live
    assert (chosen.live, chosen.point_group) == (SLOT_B, True)


def test_an_interrupted_first_release_is_finished_on_the_bootstrap_groups_word() -> None:
    # Given the group lists A (the stack's default), B is registered, and the bootstrap deployment succeeded on B
    chosen = resolve(evidence((SLOT_A,), {B1: "healthy"}, bootstrap=SLOT_B))
    # Then B is live and the group is pointed at it
    assert (chosen.live, chosen.point_group) == (SLOT_B, True)


# --- refusals: never a guess ----------------------------------------------------------------------------------------


def test_a_list_that_disagrees_with_the_target_group_without_a_witness_is_refused_with_exit_2() -> None:
    # Given the group lists A, B is registered, and the last successful release went to A
    with pytest.raises(LiveSlotUnclear) as caught:
        resolve(evidence((SLOT_A,), {B1: "healthy"}, last=SLOT_A))
    # Then it is a pre-flight failure (exit 2) that names what was seen and says what to do
    error = caught.value
    assert error.exit_code == ExitCode.BAD_INPUT
    assert f"registered in {SLOT_B}: {B1} healthy" in error.message
    assert f"lists {SLOT_A}" in error.message
    assert "nothing was uploaded or scaled" in error.message
    assert "update-deployment-group" in error.describe()


def test_a_group_listing_both_slots_without_a_witness_is_refused() -> None:
    # Given the group lists both slots, B is registered, and no successful deployment exists
    with pytest.raises(LiveSlotUnclear, match="no successful deployment says traffic went to it"):
        resolve(evidence((SLOT_A, SLOT_B), {B1: "healthy"}))


def test_a_group_listing_no_slot_while_targets_serve_without_a_witness_is_refused() -> None:
    # Given the group lists nothing, A is registered, and no successful deployment exists
    with pytest.raises(LiveSlotUnclear):
        resolve(evidence((), {A1: "healthy"}))


def test_targets_in_service_in_both_slots_are_refused() -> None:
    # Given both slots have healthy targets and no deployment runs
    with pytest.raises(LiveSlotUnclear, match="both slots have targets in service"):
        resolve(evidence((SLOT_A,), {A1: "healthy", B1: "healthy"}, last=SLOT_A))


def test_both_slots_listed_with_nothing_registered_and_no_history_is_refused() -> None:
    with pytest.raises(LiveSlotUnclear, match="lists both slots"):
        resolve(evidence((SLOT_A, SLOT_B), {}))


# --- nothing serves ---------------------------------------------------------------------------------------------------


def test_with_nothing_registered_the_list_decides() -> None:
    chosen = resolve(evidence((SLOT_B,), {}))
    assert (chosen.live, chosen.point_group) == (SLOT_B, False)


def test_with_nothing_registered_and_no_list_slot_a_is_the_empty_live_slot() -> None:
    chosen = resolve(evidence((), {}))
    assert (chosen.live, chosen.idle) == (SLOT_A, SLOT_B)


def test_with_nothing_registered_an_undone_switch_is_still_finished() -> None:
    chosen = resolve(evidence((SLOT_A,), {}, last=SLOT_B))
    assert (chosen.live, chosen.point_group) == (SLOT_B, True)


# --- draining, strangers, and the guard ------------------------------------------------------------------------------


def test_draining_targets_do_not_make_a_slot_live_but_block_emptying_it() -> None:
    # Given A serves and B's last instance is still draining after a release
    found = evidence((SLOT_A,), {A1: "healthy", B1: "draining"})
    chosen = resolve(found)
    # Then A is live, and B may not be emptied until its target has deregistered
    assert chosen.live == SLOT_A
    assert (
        live.emptying_blocked(found, SLOT_B)
        == f"{SLOT_B} has instances registered with the target group ({B1} draining)"
    )
    assert live.emptying_blocked(evidence((SLOT_A,), {A1: "healthy"}), SLOT_B) is None


def test_targets_outside_both_slots_are_noted_and_left_alone() -> None:
    chosen = resolve(evidence((SLOT_A,), {A1: "healthy", "i-0stranger": "healthy"}))
    assert chosen.live == SLOT_A
    assert any("i-0stranger" in note for note in chosen.notes)


def test_without_a_target_group_the_list_decides_and_says_so() -> None:
    # Given no target group and an old slot (A) already emptied after B's successful release
    chosen = resolve(evidence((SLOT_A,), None, last=SLOT_B, members={B1: SLOT_B, B2: SLOT_B}))
    assert (chosen.live, chosen.point_group, chosen.checked) == (SLOT_B, True, False)
    assert any("target group unknown" in note for note in chosen.notes)


def test_without_a_target_group_an_idle_slot_holding_instances_is_refused_not_emptied() -> None:
    # Given explicit targets without a target group, the group listing A, and B holding two instances (which may be
    # the slot that serves: nothing but the target group could tell),
    # while A, the slot the group names, has none
    with pytest.raises(LiveSlotUnclear) as raised:
        resolve(evidence((SLOT_A,), None, members={B1: SLOT_B, B2: SLOT_B}))
    # Then the release is refused before anything is uploaded or scaled, naming the fix
    assert raised.value.exit_code == ExitCode.BAD_INPUT
    assert f"the idle slot {SLOT_B} holds 2 ({B1}, {B2})" in raised.value.message
    assert "--target-group" in raised.value.message


def test_without_a_target_group_both_slots_listed_is_refused() -> None:
    with pytest.raises(LiveSlotUnclear):
        resolve(evidence((SLOT_A, SLOT_B), None))


def test_only_deployments_this_tool_created_name_the_slot_that_got_traffic() -> None:
    user = {"creator": "user", "targetInstances": {"autoScalingGroups": [SLOT_B]}}
    rollback = {"creator": "codeDeployRollback", "targetInstances": {"autoScalingGroups": [SLOT_B]}}
    assert live.last_success_slot(user, PAIR) == SLOT_B
    assert live.last_success_slot(rollback, PAIR) is None
    assert live.last_success_slot({"creator": "user"}, PAIR) is None
    assert live.last_success_slot(None, PAIR) is None


# --- reading AWS ------------------------------------------------------------------------------------------------------


@pytest.fixture
def elbv2_stub() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client("elbv2", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _health(*items: tuple[str, str]) -> dict[str, object]:
    return {
        "TargetHealthDescriptions": [
            {"Target": {"Id": instance, "Port": 80}, "TargetHealth": {"State": state}} for instance, state in items
        ]
    }


def test_registered_targets_are_read_from_the_target_group_and_unused_ones_left_out(elbv2_stub) -> None:
    client, stubber = elbv2_stub
    stubber.add_response(
        "describe_target_health",
        _health((A1, "healthy"), (A2, "unused"), (B1, "draining"), (B2, "unhealthy.draining")),
        {"TargetGroupArn": TG_ARN},
    )
    assert live.read_registered(client, TG_ARN) == {A1: "healthy", B1: "draining", B2: "unhealthy.draining"}


def test_a_target_group_that_cannot_be_read_is_a_pre_flight_failure(elbv2_stub) -> None:
    client, stubber = elbv2_stub
    stubber.add_client_error("describe_target_health", "AccessDenied", "not allowed", 403)
    with pytest.raises(TargetsError, match="DescribeTargetHealth") as caught:
        live.read_registered(client, TG_ARN)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert "elasticloadbalancing:DescribeTargetHealth" in caught.value.hint


class _Clock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def test_waiting_for_deregistration_ends_when_the_slot_has_no_registered_target(elbv2_stub) -> None:
    # Given B's instance draining at the first read and gone at the second
    client, stubber = elbv2_stub
    stubber.add_response(
        "describe_target_health", _health((A1, "healthy"), (B1, "draining")), {"TargetGroupArn": TG_ARN}
    )
    stubber.add_response("describe_target_health", _health((A1, "healthy")), {"TargetGroupArn": TG_ARN})
    clock = _Clock()
    lines: list[str] = []
    # When waiting for B's instances
    held = live.wait_deregistered(
        client,
        TG_ARN,
        SLOT_B,
        {B1, B2},
        runtime=Runtime(now=clock.now, sleep=clock.sleep),
        timeout=60,
        log=lines.append,
    )
    # Then nothing of B is held any more, after one wait
    assert held == {}
    assert len(lines) == 1 and B1 in lines[0]


def test_waiting_for_deregistration_gives_up_after_the_timeout(elbv2_stub) -> None:
    client, stubber = elbv2_stub
    for _ in range(3):
        stubber.add_response("describe_target_health", _health((B1, "draining")), {"TargetGroupArn": TG_ARN})
    clock = _Clock()
    held = live.wait_deregistered(
        client, TG_ARN, SLOT_B, {B1}, runtime=Runtime(now=clock.now, sleep=clock.sleep), timeout=10, log=print
    )
    assert held == {B1: "draining"}


def test_slot_members_and_target_health_come_together_from_moto(world: World) -> None:
    # Given slot B with two instances registered with a target group (moto), and slot A empty
    world.scale(SLOT_B, 2)
    elbv2 = boto3.client("elbv2", region_name="eu-west-1")
    vpc = world.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
    arn = elbv2.create_target_group(Name="site", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    b_instances = [item["InstanceId"] for item in world.slot(SLOT_B)["Instances"]]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance} for instance in b_instances])
    # When the evidence is gathered with the group listing A and no history
    found = Evidence(
        pair=PAIR,
        listed=(SLOT_A,),
        members=live.members_of({SLOT_A: [], SLOT_B: b_instances}),
        targets=live.read_registered(elbv2, arn),
    )
    # Then the load balancer's word (B) contradicts the list (A) and the release is refused
    assert set(found.serving_in(SLOT_B)) == set(b_instances)
    with pytest.raises(LiveSlotUnclear):
        resolve(found)
