"""The first release: deploy the idle slot in place through the stack's bootstrap deployment group.

Why a second group: no AWS source says whether an EC2 blue/green deployment runs when its original environment has no
instances (docs/decisions.md F15, belief U1; `NO_INSTANCES` is one of CodeDeploy's documented error codes,
docs/decisions.md F8). An in-place deployment with traffic control needs no original environment: CodeDeploy takes each
instance out of the target group, deploys to it and registers it again (CodeDeploy user guide, "Integrating CodeDeploy
with Elastic Load Balancing", in-place deployments). The stack therefore declares a second group, `<stack>-bootstrap`
(IN_PLACE, WITH_TRAFFIC_CONTROL on the same target group, no Auto Scaling group of its own), and the first release is:

    fill the idle slot (waited for until InService: agent ready)
    UpdateDeploymentGroup(bootstrap, autoScalingGroups=[idle]) → CreateDeployment(bootstrap, revision) → follow
    success: UpdateDeploymentGroup(blue/green, [idle]), then UpdateDeploymentGroup(bootstrap, [])
    timeout or cancel: StopDeployment with rollback first; then on any unsuccessful end:
        UpdateDeploymentGroup(bootstrap, []) and empty the idle slot (nothing served before the first release)

`autoScalingGroups=[]` — a non-null empty list — removes the groups and detaches every CodeDeploy-managed lifecycle
hook from them (docs/decisions.md F3); `hooksNotCleanedUp` lists the hooks CodeDeploy could not remove (CodeDeploy API
reference, UpdateDeploymentGroup response). Clearing matters: while the bootstrap group lists a slot, the launch hook
it installed there makes CodeDeploy deploy to every new instance of that slot from the bootstrap group too
(docs/decisions.md F19); afterwards only the blue/green group does.

Crash recovery: the blue/green group is pointed at the new slot *before* the bootstrap group lets go of it, so one of
them always names the slot. A run after a crash finds either the bootstrap group listing a slot whose bootstrap
deployment succeeded — `release.live` takes that as a witness that the slot is live and the run finishes the switch
— or a bootstrap deployment that failed or stopped; in both cases the leftover list is cleared before anything else.

The CodeDeploy calls themselves live in `release.deployments`, with every other CodeDeploy call of the tool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from release import deployments
from release.deployments import BootstrapGroupInfo
from release.errors import ReleaseInFlight

Log = Callable[[str], None]


class Route(Enum):
    """How a release reaches its slot."""

    BLUE_GREEN = "blue/green"
    BOOTSTRAP = "bootstrap"
    EMPTY_ORIGINAL = "blue/green with an empty original environment"


def choose_route(*, live_serving: int, registered: Mapping[str, str] | None, bootstrap_group: str | None) -> Route:
    """Blue/green when the live slot serves; the bootstrap when nothing serves and nothing is registered.

    An older stack (no bootstrap group) or an unknown target group keeps the previous behaviour: a blue/green
    deployment whose original environment is empty, which no AWS source documents (docs/decisions.md F15).
    """
    if live_serving > 0:
        return Route.BLUE_GREEN
    if registered is None or registered or not bootstrap_group:
        return Route.EMPTY_ORIGINAL
    return Route.BOOTSTRAP


def route_note(route: Route, *, live: str, registered: Mapping[str, str] | None, bootstrap_group: str | None) -> str:
    """The line that tells the user which way the first release goes and why."""
    if route is Route.BOOTSTRAP:
        return (
            f"{live} has no serving instance and the target group has no registered target: first release, "
            f"deployed in place through {bootstrap_group}"
        )
    if route is Route.BLUE_GREEN:
        return f"{live} serves: blue/green release"
    if registered is None:
        why = "the target group is unknown (no TargetGroupArn), so an empty load balancer cannot be confirmed"
    elif registered:
        why = f"the target group still has registered targets ({', '.join(sorted(registered))})"
    else:
        why = "the stack has no BootstrapDeploymentGroupName output (a stack from before the bootstrap group)"
    return (
        f"{live} has no serving instance: first release as a blue/green deployment with an empty original "
        f"environment, which no AWS source documents (docs/decisions.md F15), because {why}; "
        "update the stack (cdk deploy) to release through the bootstrap group"
    )


# ----------------------------------------------------------------------------------------------------------------------
# The bootstrap's steps
# ----------------------------------------------------------------------------------------------------------------------


class Bootstrap:
    """The bootstrap group's part of a first release: recover, start, and let go of the slot afterwards."""

    def __init__(self, codedeploy: Any, group: BootstrapGroupInfo, log: Log) -> None:
        """Act on `group` with the CodeDeploy client; progress lines go to `log`."""
        self._codedeploy = codedeploy
        self.group = group
        self._log = log

    def _clear(self) -> None:
        leftover = deployments.set_group_slots(self._codedeploy, self.group.application, self.group.name, [])
        if leftover:
            self._log(
                f"CodeDeploy could not remove its launch hook(s) {', '.join(leftover)}: delete them (aws "
                "autoscaling delete-lifecycle-hook), or new instances wait in Pending:Wait until the hook times out"
            )

    def recover(self) -> str | None:
        """Clear a list an interrupted run left on the bootstrap group; returns the note to record, if any."""
        if not self.group.listed_slots:
            return None
        note = (
            f"bootstrap group {self.group.name} still lists {', '.join(self.group.listed_slots)} (last deployment "
            f"{self.group.last_attempted_id or '-'}: {self.group.last_attempted_status or 'unknown'}): "
            "an interrupted first release left it; clearing it"
        )
        self._log(note)
        self._clear()
        return note

    def start(self, *, slot: str, revision: Mapping[str, Any], description: str, release_id: str | None = None) -> str:
        """List `slot` on the bootstrap group and deploy `revision` to it in place; returns the deployment id.

        When CreateDeployment is refused, the list is cleared again before the error goes up.
        """
        deployments.set_group_slots(self._codedeploy, self.group.application, self.group.name, [slot])
        try:
            return deployments.create_in_place_deployment(
                self._codedeploy,
                application=self.group.application,
                group=self.group.name,
                revision=revision,
                description=f"{description} (first release, in place)",
                release_id=release_id,
            )
        except (ClientError, ReleaseInFlight):
            self._clear()
            raise

    def succeeded(self, point_blue_green: Callable[[], None]) -> None:
        """Hand the slot to the blue/green group first, then let the bootstrap group go of it (see module docstring)."""
        point_blue_green()
        self._clear()
        self._log(f"bootstrap group {self.group.name} cleared: the blue/green group alone deploys new instances now")

    def ended_unsuccessfully(self) -> None:
        """After a failed, stopped or timed-out bootstrap deployment: the bootstrap group lets go of the slot."""
        self._clear()
        self._log(f"bootstrap group {self.group.name} cleared")
