"""The finisher's role, statement by statement, with its exact resources (intrinsics resolved as in
test_policy_resources: names are derived from logical ids at run time, nothing here spells a hashed id)."""

from __future__ import annotations

import pytest

from tests.stacks.conftest import Synthesized
from tests.stacks.iam.policy_lint import ACCOUNT, PARTITION, REGION
from tests.stacks.iam.test_policy_resources import Policies

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def policies(default_stack: Synthesized) -> Policies:
    return Policies(default_stack)


def test_the_finisher_acts_only_on_the_slots_the_deployment_groups_its_lease_and_its_own_queue_and_logs(
    policies: Policies,
) -> None:
    slots = [policies.name(f"Fleet/{slot}/ASG") for slot in ("SlotA", "SlotB")]
    group_arns = [
        f"arn:{PARTITION}:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{slot}"
        for slot in slots
    ]
    application = policies.name("Deployment/Application/Resource")
    stack = "BlueGreenApp"
    deployment_group = f"arn:{PARTITION}:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{application}/{stack}-"
    bucket = policies.name("Artifacts/Revisions/Resource")
    log_group = policies.name("Finisher/LogGroup/Resource")
    assert policies.statements("Finisher/Role/DefaultPolicy/Resource") == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{log_group}:*",
        },
        {
            "Action": "codedeploy:GetDeploymentGroup",
            "Effect": "Allow",
            "Resource": [f"{deployment_group}blue-green", f"{deployment_group}bootstrap"],
            "Sid": "ReadDeploymentGroups",
        },
        {
            "Action": ["codedeploy:GetDeployment", "codedeploy:ListDeployments", "codedeploy:UpdateDeploymentGroup"],
            "Effect": "Allow",
            "Resource": f"{deployment_group}blue-green",
            "Sid": "FinishBlueGreenGroup",
        },
        {
            "Action": ["autoscaling:ResumeProcesses", "autoscaling:UpdateAutoScalingGroup"],
            "Effect": "Allow",
            "Resource": group_arns,
            "Sid": "EmptyAndResumeSlots",
        },
        {
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:s3:::{bucket}/leases/{application}/{stack}-blue-green.json",
            "Sid": "ReleaseLease",
        },
        {
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:s3:::{bucket}/leases/{application}/{stack}-blue-green.bake.json",
            "Sid": "BakeWindow",
        },
        {
            "Action": [
                "autoscaling:DescribeAutoScalingGroups",
                "codedeploy:BatchGetDeploymentTargets",
                "codedeploy:ListDeploymentTargets",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            "Effect": "Allow",
            "Resource": "*",
            "Sid": "ReadSlotsTargetsAndDeploymentTargets",
        },
        {
            "Action": "sqs:SendMessage",
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{policies.name('Finisher/DeadLetterQueue/Resource')}",
        },
    ]
