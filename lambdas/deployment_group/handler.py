"""Provider for the `Custom::BlueGreenDeploymentGroup` resource, called by CDK's custom-resource framework.

The framework answers CloudFormation for us: a return value is SUCCESS, an exception is FAILED with its message,
so the stack never waits on a resource that does not answer. This module routes the three request types to three
small functions that send the requests built in `group.py`.
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

from deployment_group.group import GroupSpec, PropertyError, create_request, delete_request, update_request

# A service role created in the same stack update may not be assumable yet (IAM is eventually consistent);
# CodeDeploy then answers InvalidRoleException. Retry for a bounded time well inside the function's timeout.
ROLE_PROPAGATION_ATTEMPTS = 12
ROLE_PROPAGATION_DELAY_SECONDS = 10.0
GONE_ERRORS = {"DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"}

Response = dict[str, Any]


@cache
def codedeploy() -> Any:
    """The CodeDeploy client, created on first use rather than at import."""
    return boto3.client("codedeploy", config=Config(retries={"mode": "standard", "max_attempts": 8}))


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _retry_role_propagation(call: Callable[[], Any], sleep: Callable[[float], None]) -> Any:
    for attempt in range(1, ROLE_PROPAGATION_ATTEMPTS + 1):
        try:
            return call()
        except ClientError as error:
            if _error_code(error) != "InvalidRoleException" or attempt == ROLE_PROPAGATION_ATTEMPTS:
                raise
            sleep(ROLE_PROPAGATION_DELAY_SECONDS)
    raise AssertionError("unreachable")  # pragma: no cover


def _answer(client: Any, spec: GroupSpec) -> Response:
    group = client.get_deployment_group(
        applicationName=spec.application_name, deploymentGroupName=spec.deployment_group_name
    )["deploymentGroupInfo"]
    return {
        "PhysicalResourceId": spec.physical_id,
        "Data": {"DeploymentGroupName": group["deploymentGroupName"], "DeploymentGroupId": group["deploymentGroupId"]},
    }


def on_create(spec: GroupSpec, client: Any, sleep: Callable[[float], None]) -> Response:
    """Create the group with the initial live slot; adopt it if a retried create finds it already there."""
    try:
        _retry_role_propagation(lambda: client.create_deployment_group(**create_request(spec)), sleep)
    except ClientError as error:
        if _error_code(error) != "DeploymentGroupAlreadyExistsException":
            raise
        # A create retried by CloudFormation after a timeout: bring the existing group to the declared settings
        # without touching its live slot.
        _retry_role_propagation(lambda: client.update_deployment_group(**update_request(spec, spec)), sleep)
    return _answer(client, spec)


def on_update(old: GroupSpec, new: GroupSpec, client: Any, sleep: Callable[[float], None]) -> Response:
    """Update in place (renaming if needed); a move to another application creates a new group instead."""
    if old.application_name != new.application_name:
        return on_create(new, client, sleep)
    _retry_role_propagation(lambda: client.update_deployment_group(**update_request(old, new)), sleep)
    return _answer(client, new)


def on_delete(spec: GroupSpec, client: Any) -> Response:
    """Delete the group; one that is already gone counts as deleted, so a retried delete cannot fail the stack."""
    try:
        client.delete_deployment_group(**delete_request(spec))
    except ClientError as error:
        if _error_code(error) not in GONE_ERRORS:
            raise
    return {"PhysicalResourceId": spec.physical_id}


def handle(event: Mapping[str, Any], client: Any, sleep: Callable[[float], None] = time.sleep) -> Response:
    """Route one CloudFormation request to its function."""
    request_type = event.get("RequestType")
    if request_type == "Delete":
        try:
            spec = GroupSpec.from_properties(event.get("ResourceProperties", {}))
        except PropertyError:
            # Properties this bad never created anything; failing the delete would leave the stack stuck.
            return {"PhysicalResourceId": str(event.get("PhysicalResourceId", "none"))}
        return on_delete(spec, client)
    spec = GroupSpec.from_properties(event.get("ResourceProperties", {}))
    if request_type == "Create":
        return on_create(spec, client, sleep)
    if request_type == "Update":
        return on_update(GroupSpec.from_properties(event.get("OldResourceProperties", {})), spec, client, sleep)
    raise ValueError(f"unknown RequestType {request_type!r}; expected Create, Update or Delete")


def lambda_handler(event: Mapping[str, Any], _context: object) -> Response:
    """Entry point. Exceptions propagate on purpose: the provider framework reports them to CloudFormation."""
    print(json.dumps({"request": event.get("RequestType"), "logicalId": event.get("LogicalResourceId")}))
    return handle(event, codedeploy())
