"""The stack's CloudFormation output names: the contract between the stack (writer) and the release tool (reader).

The stack declares one `CfnOutput` per name in `ALL`, and the names in `OPTIONAL` only when their setting is on; the
release tool reads the names in `ALL`, and those in `PREVIEW` when present, with DescribeStacks (outputs are never
exported, so several copies of the stack can share an account and region).
"""

from __future__ import annotations

SITE_URL = "SiteUrl"
ARTIFACT_BUCKET = "ArtifactBucketName"
APPLICATION = "ApplicationName"
DEPLOYMENT_GROUP = "DeploymentGroupName"
SLOT_A = "SlotAName"
SLOT_B = "SlotBName"
TARGET_GROUP_ARN = "TargetGroupArn"
FLEET_MIN_SIZE = "FleetMinSize"
FLEET_DESIRED_SIZE = "FleetDesiredSize"
FLEET_MAX_SIZE = "FleetMaxSize"
# The in-place group the release tool uses for the very first release (stacks/deployment.py).
BOOTSTRAP_DEPLOYMENT_GROUP = "BootstrapDeploymentGroupName"
# The CloudWatch dashboard of the releases (stacks/dashboard.py); `status` and the release report link to it.
DASHBOARD = "DashboardName"
# The SNS topic deployments and rollback alarms publish to, when setting notificationsTopic is on (for subscribers;
# the release tool does not read it).
NOTIFICATIONS_TOPIC_ARN = "NotificationsTopicArn"
# The promotion gate's test listener, when setting testListenerPort is on (stacks/load_balancer.py, PreviewRoute): the
# preview target group the release tool fills with the replacement slot, the URL the pre-promotion check is given,
# and the managed policy that lets the release role register and deregister there (for the operator to attach).
PREVIEW_TARGET_GROUP_ARN = "PreviewTargetGroupArn"
TEST_URL = "TestUrl"
PREVIEW_REGISTRATION_POLICY_ARN = "PreviewRegistrationPolicyArn"

FLEET = (FLEET_MIN_SIZE, FLEET_DESIRED_SIZE, FLEET_MAX_SIZE)
ALL = (
    SITE_URL,
    ARTIFACT_BUCKET,
    APPLICATION,
    DEPLOYMENT_GROUP,
    SLOT_A,
    SLOT_B,
    TARGET_GROUP_ARN,
    *FLEET,
    BOOTSTRAP_DEPLOYMENT_GROUP,
    DASHBOARD,
)
# Optional outputs the release tool reads when the stack has them (the pre-promotion check needs both).
PREVIEW = (PREVIEW_TARGET_GROUP_ARN, TEST_URL)
OPTIONAL = (NOTIFICATIONS_TOPIC_ARN, *PREVIEW, PREVIEW_REGISTRATION_POLICY_ARN)
