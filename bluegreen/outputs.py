"""The stack's CloudFormation output names: the contract between the stack (writer) and the release tool (reader).

The stack declares one `CfnOutput` per name in `ALL`, and the names in `OPTIONAL` only when their setting is on; the
release tool reads the names in `ALL` with DescribeStacks (outputs are never exported, so several copies of the stack
can share an account and region).
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
OPTIONAL = (NOTIFICATIONS_TOPIC_ARN,)
