"""Console links for `status` and the release report: the release dashboard, the deployment group, a deployment.

Built from names alone (no AWS call). The host is the commercial partition's console
(`<region>.console.aws.amazon.com`); other partitions have other consoles, and a link is only shown, never followed.
"""

from __future__ import annotations

from urllib.parse import quote

from release.targets import Targets


def _console(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com"


def dashboard_url(region: str, name: str) -> str:
    """The CloudWatch dashboard (stack output DashboardName)."""
    return f"{_console(region)}/cloudwatch/home?region={region}#dashboards/dashboard/{quote(name, safe='')}"


def deployment_group_url(region: str, application: str, group: str) -> str:
    """The deployment group's page in the CodeDeploy console (its deployments, triggers, alarms)."""
    return (
        f"{_console(region)}/codesuite/codedeploy/applications/{quote(application, safe='')}"
        f"/deployment-groups/{quote(group, safe='')}?region={region}"
    )


def deployment_url(region: str, deployment_id: str) -> str:
    """One deployment's page in the CodeDeploy console (its instances and lifecycle events)."""
    return f"{_console(region)}/codesuite/codedeploy/deployments/{quote(deployment_id, safe='')}?region={region}"


def console_links(
    region: str | None, targets: Targets, deployment_id: str | None = None, *, rollback_id: str | None = None
) -> dict[str, str]:
    """`dashboard` (when the stack has one), `deploymentGroup` and, given their ids, `deployment` and `rollback`
    (CodeDeploy's rollback is a deployment of its own, with its own page); none without a region."""
    if not region:
        return {}
    links: dict[str, str] = {}
    if targets.dashboard_name:
        links["dashboard"] = dashboard_url(region, targets.dashboard_name)
    links["deploymentGroup"] = deployment_group_url(region, targets.application, targets.deployment_group)
    if deployment_id:
        links["deployment"] = deployment_url(region, deployment_id)
    if rollback_id:
        links["rollback"] = deployment_url(region, rollback_id)
    return links
