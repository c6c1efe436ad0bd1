"""Optional notifications (setting notificationsTopic): one encrypted, TLS-only topic that the deployment groups'
CodeDeploy triggers and the rollback alarms publish to, cdk-nag, cfn-lint and parliament clean (issue 18)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from bluegreen import outputs as output_names
from stacks.alarms import ReleaseAlarms
from stacks.deployment import BlueGreenDeployment
from stacks.notifications import TRIGGER_EVENTS, TRIGGER_NAME, ReleaseNotifications
from tests.conftest import FAKE_REGION
from tests.stacks.conftest import Synthesized, synthesize
from tests.stacks.iam.test_policy_lint import ACCEPTED, findings_of
from tests.stacks.nag_audit import unacknowledged, unused
from tests.stacks.test_compliance import CFN_LINT_CONFIG

pytestmark = pytest.mark.slow

EXISTING_TOPIC = "arn:aws:sns:eu-west-1:123456789012:team-releases"


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize({"notificationsTopic": True}, tmp_path_factory.mktemp("notifications"))


def child(stack: Stack, construct_id: str, kind: type) -> Any:
    found = stack.node.find_child(construct_id)
    assert isinstance(found, kind)
    return found


def test_both_groups_carry_the_trigger_for_deployment_events_in_their_desired_state(synth: Synthesized) -> None:
    notifications = child(synth.stack, "Notifications", ReleaseNotifications)
    trigger = {
        "TriggerName": TRIGGER_NAME,
        "TriggerTargetArn": synth.stack.resolve(notifications.topic.topic_arn),
        "TriggerEvents": [
            "DeploymentStart",
            "DeploymentSuccess",
            "DeploymentFailure",
            "DeploymentStop",
            "DeploymentRollback",
        ],
    }
    assert list(TRIGGER_EVENTS) == trigger["TriggerEvents"]
    for kind in ("Custom::BlueGreenDeploymentGroup", "Custom::BootstrapDeploymentGroup"):
        synth.template.has_resource_properties(kind, {"TriggerConfigurations": [trigger]})


def test_the_topic_is_encrypted_with_a_rotated_key_and_refuses_publishing_without_tls(synth: Synthesized) -> None:
    notifications = child(synth.stack, "Notifications", ReleaseNotifications)
    assert notifications.key is not None
    synth.template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": synth.stack.resolve(notifications.key.key_arn)}
    )
    synth.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    synth.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_cloudwatch_may_publish_only_this_accounts_alarms_and_use_the_key(synth: Synthesized) -> None:
    (policy,) = synth.template.find_resources("AWS::SNS::TopicPolicy").values()
    (allow,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert set(allow["Condition"]) == {"StringEquals", "ArnLike"}
    (key,) = synth.template.find_resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert {"Service": "cloudwatch.amazonaws.com"} in [s["Principal"] for s in statements]


def test_the_codedeploy_service_role_may_publish_to_the_topic(synth: Synthesized) -> None:
    notifications = child(synth.stack, "Notifications", ReleaseNotifications)
    deployment = child(synth.stack, "Deployment", BlueGreenDeployment)
    assert notifications.key is not None
    synth.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [synth.stack.resolve(deployment.service_role.role_name)],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Action": "sns:Publish", "Resource": synth.stack.resolve(notifications.topic.topic_arn)}
                        ),
                        Match.object_like(
                            {
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Resource": synth.stack.resolve(notifications.key.key_arn),
                            }
                        ),
                    ]
                )
            },
        },
    )


def test_each_rollback_alarm_notifies_on_alarm_and_on_ok(synth: Synthesized) -> None:
    notifications = child(synth.stack, "Notifications", ReleaseNotifications)
    alarms = child(synth.stack, "Alarms", ReleaseAlarms)
    topic = synth.stack.resolve(notifications.topic.topic_arn)
    for alarm in alarms.alarms:
        synth.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "AlarmName": Match.absent(),
                "AlarmDescription": synth.stack.resolve(alarm.node.default_child.alarm_description),  # type: ignore[union-attr]
                "AlarmActions": [topic],
                "OKActions": [topic],
            },
        )


def test_the_topic_arn_is_an_output_for_subscribers(synth: Synthesized) -> None:
    notifications = child(synth.stack, "Notifications", ReleaseNotifications)
    outputs = synth.template.find_outputs(output_names.NOTIFICATIONS_TOPIC_ARN)
    assert outputs[output_names.NOTIFICATIONS_TOPIC_ARN]["Value"] == synth.stack.resolve(notifications.topic.topic_arn)


def test_no_unacknowledged_aws_solutions_finding(synth: Synthesized) -> None:
    assert unacknowledged(synth.stack) == []


def test_every_acknowledgement_the_notifications_add_still_matches_a_finding(synth: Synthesized) -> None:
    # The topic's own and the one on the CodeDeploy service role (tests/stacks/test_nag_acknowledgements.py checks
    # every other construct's in the default variants).
    owners = tuple(f"{synth.stack.stack_name}/{name}/" for name in ("Notifications", "Deployment/ServiceRole"))
    declared = [ack for ack in synth.acknowledgements if f"{ack.declared_on}/".startswith(owners)]
    assert unused(declared, synth.suppressed) == []


def test_the_topic_policy_and_the_publish_grant_have_no_parliament_finding(synth: Synthesized) -> None:
    prefix = f"{synth.stack.stack_name}/Notifications/"
    role = f"{synth.stack.stack_name}/Deployment/ServiceRole/"
    findings = [
        f
        for f in findings_of(synth)
        if f.location.startswith(prefix)
        or (f.location.startswith(role) and any(s in json.dumps(f.detail) for s in ("sns:", "kms:")))
    ]
    assert [str(f) for f in findings if not any(accepted.matches(f) for accepted in ACCEPTED)] == []


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(CFN_LINT_CONFIG),
            "--",
            str(synth.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_existing_topic_is_used_by_arn_without_a_new_topic_or_key() -> None:
    # Given the construct alone in a small stack (a whole-stack synthesis per variant is slow)
    stack = Stack(App(), "Small", env=Environment(region=FAKE_REGION))
    role = iam.Role(stack, "ServiceRole", assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"))
    alarm = cloudwatch.Alarm(
        stack,
        "Alarm",
        metric=cloudwatch.Metric(namespace="N", metric_name="M"),
        threshold=1,
        evaluation_periods=1,
    )
    # When it is given an existing topic's ARN
    notifications = ReleaseNotifications(stack, "Notifications", existing_topic_arn=EXISTING_TOPIC)
    notifications.allow_publish(role)
    notifications.notify_on([alarm])
    # Then nothing is created, and the trigger, the alarm and the role use that topic
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Topic", 0)
    template.resource_count_is("AWS::KMS::Key", 0)
    assert notifications.trigger_configurations()[0]["TriggerTargetArn"] == EXISTING_TOPIC
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmActions": [EXISTING_TOPIC], "OKActions": [EXISTING_TOPIC]}
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": [Match.object_like({"Action": "sns:Publish", "Resource": EXISTING_TOPIC})]}},
    )
