"""How long CodeDeploy's traffic steps take for given target-group settings (docs/decisions.md F7, F85, F107).

Two figures per step. The *expected* one is the release-time model's: a newly registered target is healthy after one
passing check (F85), so AllowTraffic takes the registration plus at most one interval; a deregistered target drains
for the whole deregistration delay under keep-alive (F13, F107), so BlockTraffic takes the delay. The *bound* counts
every check the healthy threshold asks for (healthy threshold x interval + interval, and that again before the delay
for BlockTraffic: the project's own upper bound, F7); the release's default timeout and the fast rollback's model use
the bound, so a slower AWS than the sources say makes a release slower than modelled, never cut short.
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.config import HealthCheck

# ELBv2 CreateTargetGroup defaults for HTTP targets, and the default deregistration delay (ELB guide, target group
# health checks and target group attributes; docs/decisions.md F7).
ALB_DEFAULT_INTERVAL_SECONDS = 30
ALB_DEFAULT_HEALTHY_THRESHOLD = 5
ALB_DEFAULT_DEREGISTRATION_DELAY_SECONDS = 300
# RegisterTargets returns at once; the load balancer routes to a target "as soon as the registration process completes
# and the target passes the initial health checks" (docs/decisions.md F85). No source gives the registration's own
# latency: ASSUMPTION (not sourced), one tuned health-check interval's worth; the integration kit measures AllowTraffic.
REGISTRATION_SECONDS = 5


@dataclass(frozen=True)
class TrafficTiming:
    """The target-group settings that decide AllowTraffic and BlockTraffic (seconds, counts); ALB defaults if unset."""

    interval_seconds: int = ALB_DEFAULT_INTERVAL_SECONDS
    healthy_threshold: int = ALB_DEFAULT_HEALTHY_THRESHOLD
    deregistration_delay_seconds: int = ALB_DEFAULT_DEREGISTRATION_DELAY_SECONDS

    @classmethod
    def of(cls, health_check: HealthCheck, deregistration_delay_seconds: int) -> TrafficTiming:
        """The timing of a target group with this health check and delay."""
        return cls(health_check.interval_seconds, health_check.healthy_threshold, deregistration_delay_seconds)

    @property
    def allow_traffic_seconds(self) -> int:
        """Healthy threshold x interval + interval: the upper bound of one instance's AllowTraffic (F7)."""
        return self.healthy_threshold * self.interval_seconds + self.interval_seconds

    @property
    def block_traffic_seconds(self) -> int:
        """AllowTraffic's bound plus the deregistration delay: the upper bound of BlockTraffic (F7)."""
        return self.allow_traffic_seconds + self.deregistration_delay_seconds

    @property
    def expected_allow_traffic_seconds(self) -> int:
        """One instance's AllowTraffic as modelled: the registration (`REGISTRATION_SECONDS`, an assumption) and one
        interval until the first health check, which a newly registered target needs to pass once (F85)."""
        return REGISTRATION_SECONDS + self.interval_seconds

    @property
    def expected_block_traffic_seconds(self) -> int:
        """BlockTraffic as modelled: the deregistration delay, which a target spends draining whenever the load balancer
        holds a connection to it (F13, F107); it ends earlier only with no connection at all."""
        return self.deregistration_delay_seconds


ALB_DEFAULTS = TrafficTiming()


# -- The release-time model (issue 13) ---------------------------------------------------------------------------------
#
# A per-phase estimate of one release of `instances` replacement instances, from the template's values and the figures
# below. Every figure is either derived from the target group (F7, `TrafficTiming`) or a documented AWS behaviour, or
# it is an ASSUMPTION: AWS publishes no latency for launching an instance, booting it or running user data, so those
# figures are this project's estimates, to be replaced by the measured phase times the release report records.

# Launch of a new instance until its agent-ready hook completes: EC2 launch and boot of Amazon Linux 2023, then the
# user data's `dnf install ruby wget` and the CodeDeploy agent's installer (stacks/fleet.py). ASSUMPTION (not sourced).
COLD_PROVISIONING_SECONDS = 100
# Start of a stopped instance from a warm pool until the agent-ready hook completes (boot only: the agent is
# installed). ASSUMPTION (not sourced); the Auto Scaling guide says only that warm pools cut the time to scale out.
WARM_PROVISIONING_SECONDS = 30
# Per replacement instance: the agent picks the command up (it long-polls CodeDeploy), DownloadBundle and Install of a
# small revision, and the sample app's hook scripts (start plus ValidateService's own wait for /health).
# ASSUMPTION (not sourced); `deploy.py rehearse` measures the hook scripts locally.
INSTALL_SECONDS = 10
# The drain of one leaving instance once BlockTraffic has deregistered it: no request is in flight any more, so the
# drain Lambda's first readings (SSM Run Command, `drainPollIntervalSeconds`) say 0. ASSUMPTION (not sourced).
DRAIN_SECONDS = 5
# EC2 shutdown of a terminated instance. ASSUMPTION (not sourced). Like the drain, it runs after the release returns:
# the tool scales the old slot to 0 and does not wait (release.orchestrate).
TERMINATION_SECONDS = 30
# The seed's measured release of two instances (issue 13).
SEED_RELEASE_SECONDS = 25 * 60


@dataclass(frozen=True)
class Phase:
    """One phase of the model: its name, expected seconds, whether the release waits for it, where the figure comes
    from, and its upper bound in seconds where the bound differs (the traffic steps, `TrafficTiming`)."""

    name: str
    seconds: int
    source: str
    on_critical_path: bool = True
    detail: str = ""
    bound_seconds: int | None = None


@dataclass(frozen=True)
class ReleaseModel:
    """The phases of one modelled release, in order."""

    phases: tuple[Phase, ...]

    @property
    def release_seconds(self) -> int:
        """What the release waits for: the phases on its critical path, end to end."""
        return sum(phase.seconds for phase in self.phases if phase.on_critical_path)

    @property
    def release_bound_seconds(self) -> int:
        """The same with every traffic step at its upper bound (F7): the release if each health check the threshold
        counts were needed."""
        return sum(
            phase.seconds if phase.bound_seconds is None else phase.bound_seconds
            for phase in self.phases
            if phase.on_critical_path
        )

    @property
    def until_old_slot_empty_seconds(self) -> int:
        """Until the old slot's last instance is terminated (drain and termination included)."""
        return sum(phase.seconds for phase in self.phases)


# The name of the row that sets the release end to end beside the model's `release_seconds`.
RELEASE_ROW = "release"


@dataclass(frozen=True)
class ModelRow:
    """One phase of the model beside a release's measured time: `measured` in seconds, None when the run cannot tell,
    and `how` it was measured. The release report writes these (release.report.model_rows, the summary's `model`);
    the integration kit reads them back (belief U8)."""

    phase: str
    modelled: int
    measured: float | None
    how: str


def deployment_batches(deployment_config_name: str, instances: int) -> int:
    """How many batches CodeDeploy deploys `instances` replacement instances in, for a predefined configuration.

    OneAtATime: one instance at a time; HalfAtATime: at most half at a time (minimum healthy hosts 50 %); AllAtOnce:
    all together; in a blue/green deployment the configuration applies to the replacement environment, both to the
    install and to rerouting traffic (docs/decisions.md F64). Unknown names count as one at a time (the slowest).
    """
    if instances <= 1 or deployment_config_name.endswith("AllAtOnce"):
        return 1
    if deployment_config_name.endswith("HalfAtATime"):
        return 2
    return instances


def release_model(
    timing: TrafficTiming,
    *,
    instances: int,
    deployment_config_name: str,
    warm_pool: bool = False,
) -> ReleaseModel:
    """The modelled phases of a release of `instances` replacement instances with this target-group timing.

    Provisioning runs for all instances at once (the slot scales to its size in one request). Install and AllowTraffic
    run per instance, batch after batch (`deployment_batches`, docs/decisions.md F64). BlockTraffic deregisters the
    original instances together; the model assumes so (no source says whether the deployment configuration batches
    the original environment). Drain and termination follow the release's last step, off its critical path. With
    `warm_pool` the slot's instances are started from a stopped, initialised pool instead of launched (F65). The
    traffic steps take their expected figures (F85, F107) and carry their bounds (F7) as `Phase.bound_seconds`.
    """
    batches = deployment_batches(deployment_config_name, instances)
    provisioning = (
        Phase("provisioning", WARM_PROVISIONING_SECONDS, "assumption", detail="warm pool: start a stopped instance")
        if warm_pool
        else Phase("provisioning", COLD_PROVISIONING_SECONDS, "assumption", detail="launch, user data installs agent")
    )
    per_batch = f"x {batches} batch{'es' if batches > 1 else ''} ({deployment_config_name.rsplit('.', 1)[-1]})"
    return ReleaseModel(
        phases=(
            provisioning,
            Phase("install", INSTALL_SECONDS * batches, "assumption", detail=f"{INSTALL_SECONDS} s {per_batch}"),
            Phase(
                "AllowTraffic",
                timing.expected_allow_traffic_seconds * batches,
                "F85: registration (assumption) + one interval",
                detail=f"{timing.expected_allow_traffic_seconds} s {per_batch}",
                bound_seconds=timing.allow_traffic_seconds * batches,
            ),
            Phase(
                "BlockTraffic",
                timing.expected_block_traffic_seconds,
                "F107: the deregistration delay",
                detail="original instances together",
                bound_seconds=timing.block_traffic_seconds,
            ),
            Phase("drain", DRAIN_SECONDS, "assumption", on_critical_path=False, detail="nothing left in flight"),
            Phase("termination", TERMINATION_SECONDS, "assumption", on_critical_path=False, detail="EC2 shutdown"),
        )
    )


# -- The bake window's fast rollback (issue 14 §1) ---------------------------------------------------------------------
#
# Inside the bake window the old slot's instances still run the previous revision, so a rollback is a traffic step
# only: register them with the target group, wait until each passes its health checks, deregister the new slot's.

# The project's goal for a rollback inside the window (issue 14): traffic fully on the old slot within 30 s.
FAST_ROLLBACK_GOAL_SECONDS = 30


@dataclass(frozen=True)
class FastRollbackModel:
    """The modelled time from a rollback decision inside the bake window until traffic is fully on the old slot.

    registration (assumption) + AllowTraffic's bound (healthy threshold x interval + interval, F7) for the old slot's
    instances, checked together; the new slot's deregistration stops new requests at once (F4, F85), so it adds
    nothing to the moment traffic is fully back (in-flight requests finish on the new slot within the delay).
    """

    registration_seconds: int
    healthy_seconds: int

    @property
    def seconds(self) -> int:
        """Until every request goes to the old slot."""
        return self.registration_seconds + self.healthy_seconds

    @property
    def within_goal(self) -> bool:
        """Whether the model meets the 30 s goal."""
        return self.seconds <= FAST_ROLLBACK_GOAL_SECONDS

    def describe(self) -> str:
        """`fast rollback ≈ 20 s (registration 5 s + healthy 15 s), goal 30 s: met`."""
        verdict = "met" if self.within_goal else "NOT met: shorten the health check interval or healthy threshold"
        return (
            f"fast rollback inside the bake window ≈ {self.seconds} s (registration {self.registration_seconds} s + "
            f"healthy threshold x interval + interval {self.healthy_seconds} s), goal {FAST_ROLLBACK_GOAL_SECONDS} s: "
            f"{verdict}"
        )


def fast_rollback_model(timing: TrafficTiming) -> FastRollbackModel:
    """The fast rollback's modelled time for a target group with this timing."""
    return FastRollbackModel(REGISTRATION_SECONDS, timing.allow_traffic_seconds)
