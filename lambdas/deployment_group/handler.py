"""Provider for the deployment-group custom resources, called by CDK's custom-resource framework.

The framework answers CloudFormation for us: a return value is SUCCESS, an exception is FAILED with its message,
so the stack never waits on a resource that does not answer. This module routes the three request types to three
small functions that send the requests built in `group.py`. One provider serves both kinds of group the stack
declares (the blue/green group and the in-place bootstrap group); the properties say which.

Replacement, and why no Delete can remove the group the stack relies on:

* The physical id is `<application>:<group>`. An Update that keeps it changes the group in place and never sends
  the Auto Scaling groups (the live slot is runtime state, docs/decisions.md F3).
* An Update that changes it (the application was replaced, or the group renamed) creates a **new** group with the
  **old group's** Auto Scaling group list, read with GetDeploymentGroup, and leaves the old group untouched. It never
  renames in place and never falls back to the initial slot.
* CloudFormation treats a changed physical id as a replacement (CloudFormation user guide, custom resource Update
  and Delete requests): after a successful update it sends Delete for the OLD id during cleanup, when the new group
  already holds the live slot. If the stack update rolls back, CloudFormation first sends an Update back to the old
  properties (with the NEW id as PhysicalResourceId; sequence described in aws/aws-cdk#29581) and then deletes the
  NEW id. That rollback Update is itself a replacement here: the old group still exists, so it is adopted, given the
  new group's list (the newest live slot) and answered with the old id; the Delete that follows removes only the new
  group. Renaming in place instead would leave the id CloudFormation still holds naming no group whenever the
  update fails after the rename or the rollback's Update cannot run: the rollback then fails, and the only group
  is the one under the id CloudFormation deletes.
* Delete removes exactly the group its PhysicalResourceId names, never one read from the properties (which may
  describe another group during cleanup), and answers with that same id (the framework refuses any other). An id
  that names no group (a create that never succeeded: the framework's CREATE_FAILED marker) deletes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from deployment_group.group import GroupRef, GroupSpec, create_request, update_request

# A service role created in the same stack update may not be assumable yet (IAM is eventually consistent);
# CodeDeploy then answers InvalidRoleException. Retry for a bounded time well inside the function's timeout.
ROLE_PROPAGATION_ATTEMPTS = 12
ROLE_PROPAGATION_DELAY_SECONDS = 10.0
# Deployments still running (DeploymentStatus enum in the CodeDeploy API reference). Ready is a blue/green
# deployment waiting to reroute traffic.
IN_FLIGHT_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
# After StopDeployment, wait this long for the stop (and the rollback it starts) to end before deleting:
# 30 x 10 s, inside the function's timeout with the role-propagation budget to spare.
STOP_WAIT_ATTEMPTS = 30
STOP_WAIT_DELAY_SECONDS = 10.0
GONE_ERRORS = {"DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"}

Response = dict[str, Any]
Sleep = Callable[[float], None]


@cache
def codedeploy() -> Any:
    """The CodeDeploy client, created on first use rather than at import."""
    return boto3.client("codedeploy", config=Config(retries={"mode": "standard", "max_attempts": 8}))


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _log(message: str, **fields: Any) -> None:
    print(json.dumps({"message": message, **fields}, default=str))


def _retry_role_propagation(call: Callable[[], Any], sleep: Sleep) -> Any:
    for attempt in range(1, ROLE_PROPAGATION_ATTEMPTS + 1):
        try:
            return call()
        except ClientError as error:
            if _error_code(error) != "InvalidRoleException" or attempt == ROLE_PROPAGATION_ATTEMPTS:
                raise
            sleep(ROLE_PROPAGATION_DELAY_SECONDS)
    raise AssertionError("unreachable")  # pragma: no cover


def _answer(ref: GroupRef, group_id: str) -> Response:
    return {
        "PhysicalResourceId": ref.physical_id,
        "Data": {"DeploymentGroupName": ref.deployment_group_name, "DeploymentGroupId": group_id},
    }


def _group_info(client: Any, ref: GroupRef) -> dict[str, Any]:
    return dict(client.get_deployment_group(**ref.request())["deploymentGroupInfo"])


def _auto_scaling_groups_of(client: Any, ref: GroupRef) -> list[str] | None:
    """The old group's Auto Scaling group names (the live slot), or None when that group no longer exists."""
    try:
        info = _group_info(client, ref)
    except ClientError as error:
        if _error_code(error) not in GONE_ERRORS:
            raise
        return None
    return [group["name"] for group in info.get("autoScalingGroups", [])]


def _create(spec: GroupSpec, client: Any, sleep: Sleep, slots: list[str], adopt_slots: list[str] | None) -> Response:
    """Create the group with `slots`; adopt one that already exists (a retried create, a name used before).

    Adopting updates the existing group to the declared settings and sets its Auto Scaling groups to
    `adopt_slots`, or leaves them alone when that is None.
    """
    try:
        created = _retry_role_propagation(lambda: client.create_deployment_group(**create_request(spec, slots)), sleep)
    except ClientError as error:
        if _error_code(error) != "DeploymentGroupAlreadyExistsException":
            raise
        _retry_role_propagation(lambda: client.update_deployment_group(**update_request(spec, adopt_slots)), sleep)
        return _answer(spec.ref, str(_group_info(client, spec.ref)["deploymentGroupId"]))
    # The answer is built from CreateDeploymentGroup's own reply: no call after the create can fail and orphan it.
    return _answer(spec.ref, str(created["deploymentGroupId"]))


def on_create(spec: GroupSpec, client: Any, sleep: Sleep) -> Response:
    """Create the group with its initial Auto Scaling groups (slot A for blue/green, none for the bootstrap group)."""
    return _create(spec, client, sleep, list(spec.initial_auto_scaling_groups), None)


def on_update(old: GroupRef, spec: GroupSpec, client: Any, sleep: Sleep) -> Response:
    """Update in place when the physical id is unchanged; otherwise a new group with the old group's slots."""
    if old == spec.ref:
        _retry_role_propagation(lambda: client.update_deployment_group(**update_request(spec)), sleep)
        return _answer(spec.ref, str(_group_info(client, spec.ref)["deploymentGroupId"]))
    live = _auto_scaling_groups_of(client, old)
    # A vanished old group leaves no live slot to carry over: the new group starts with none rather than slot A,
    # and the release tool resolves the live slot from the target group.
    _log("replacing deployment group", old=old.physical_id, new=spec.ref.physical_id, autoScalingGroups=live)
    return _create(spec, client, sleep, live or [], live)


def _in_flight(client: Any, ref: GroupRef) -> list[str]:
    ids: list[str] = []
    request: dict[str, Any] = {**ref.request(), "includeOnlyStatuses": list(IN_FLIGHT_STATUSES)}
    while True:
        page = client.list_deployments(**request)
        ids.extend(page.get("deployments", []))
        if not page.get("nextToken"):
            return ids
        request["nextToken"] = page["nextToken"]


def _stop_in_flight(client: Any, ref: GroupRef, sleep: Sleep) -> list[str]:
    """Stop every deployment in flight with rollback, then wait (bounded) until none runs.

    autoRollbackEnabled=True, as the release tool's cancel does (docs/decisions.md F8): a blue/green deployment cut
    short between AllowTraffic and BlockTraffic would otherwise leave traffic split across both slots. When the old
    group of a replacement is deleted, that rollback puts traffic back on the slot the new group carries on; when the
    stack is deleted, it is harmless. The rollback deployments started here are waited for, never stopped.
    """
    stopped = _in_flight(client, ref)
    for deployment_id in stopped:
        try:
            client.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        except ClientError as error:
            if _error_code(error) != "DeploymentAlreadyCompletedException":
                raise
    if stopped:
        for _ in range(STOP_WAIT_ATTEMPTS):
            if not _in_flight(client, ref):
                break
            sleep(STOP_WAIT_DELAY_SECONDS)
    return stopped


def on_delete(physical_id: str, client: Any, sleep: Sleep) -> Response:
    """Delete the group the physical id names, after stopping its deployments; a group already gone is deleted."""
    ref = GroupRef.from_physical_id(physical_id)
    if ref is None:
        _log("physical id names no deployment group; nothing to delete", physicalResourceId=physical_id)
        return {"PhysicalResourceId": physical_id}
    try:
        stopped = _stop_in_flight(client, ref, sleep)
        answer = client.delete_deployment_group(**ref.request())
    except ClientError as error:
        if _error_code(error) not in GONE_ERRORS:
            raise
        _log("deployment group already gone", physicalResourceId=physical_id)
        return {"PhysicalResourceId": physical_id}
    # DeleteDeploymentGroup lists the Auto Scaling lifecycle hooks CodeDeploy could not remove: worth a look, not a
    # reason to fail the delete (the slots and their own hooks belong to the stack).
    hooks = [f"{hook.get('name', '?')}:{hook.get('hook', '?')}" for hook in answer.get("hooksNotCleanedUp", [])]
    _log("deleted deployment group", group=physical_id, stoppedDeployments=stopped, hooksNotCleanedUp=hooks)
    return {
        "PhysicalResourceId": physical_id,
        "Data": {"StoppedDeployments": ",".join(stopped), "HooksNotCleanedUp": ",".join(hooks)},
    }


def _old_ref(event: Mapping[str, Any]) -> GroupRef:
    ref = GroupRef.from_physical_id(event.get("PhysicalResourceId"))
    if ref is not None:
        return ref
    return GroupSpec.from_properties(event.get("OldResourceProperties", {})).ref


def handle(event: Mapping[str, Any], client: Any, sleep: Sleep = time.sleep) -> Response:
    """Route one CloudFormation request to its function."""
    request_type = event.get("RequestType")
    if request_type == "Delete":
        return on_delete(str(event.get("PhysicalResourceId", "")), client, sleep)
    spec = GroupSpec.from_properties(event.get("ResourceProperties", {}))
    if request_type == "Create":
        return on_create(spec, client, sleep)
    if request_type == "Update":
        return on_update(_old_ref(event), spec, client, sleep)
    raise ValueError(f"unknown RequestType {request_type!r}; expected Create, Update or Delete")


def lambda_handler(event: Mapping[str, Any], _context: object) -> Response:
    """Entry point. Exceptions propagate on purpose: the provider framework reports them to CloudFormation."""
    _log("request", request=event.get("RequestType"), logicalId=event.get("LogicalResourceId"))
    return handle(event, codedeploy())
