"""How long each phase of a running release should take and may take: what the views show as "how long is left".

The figures are the release-time model's (`bluegreen.timing.release_model`, fed with the target group's health check
and deregistration delay, docs/decisions.md F7, F85, F107) mapped onto the release's own phases
(`ReleaseRecord.phases`): the model's provisioning is the `scale-up` phase, its install, AllowTraffic and
BlockTraffic together the `deployment` phase. The budgets are the release's own limits: `--scale-timeout` for the
scale-up, the deployment timeout (`ReleaseRecord.timeout_seconds`) for the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bluegreen.timing import ReleaseModel, TrafficTiming, release_model
from release.record import ReleaseRecord

SCALE_UP = "scale-up"
DEPLOYMENT = "deployment"


@dataclass(frozen=True)
class Expectation:
    """Modelled seconds per release phase and per lifecycle event, the phases' budgets, and what follows the release.

    `phases` and `budgets` are keyed by `ReleaseRecord` phase names (seconds); `events` by lifecycle event name
    (seconds, the traffic steps only: the model has no figure for a hook script); `after_release` is the drain and
    termination of the old instances, which run after the tool returns.
    """

    phases: Mapping[str, int] = field(default_factory=dict)
    events: Mapping[str, int] = field(default_factory=dict)
    budgets: Mapping[str, float] = field(default_factory=dict)
    after_release: int = 0


def expect(
    traffic: TrafficTiming, *, instances: int, deployment_config: str, scale_timeout_seconds: float
) -> Expectation:
    """The model's figures for a release of `instances` replacement instances in `deployment_config` batches."""
    model = release_model(traffic, instances=instances, deployment_config_name=deployment_config)
    return expectation(model, traffic, scale_timeout_seconds=scale_timeout_seconds)


def expectation(model: ReleaseModel, traffic: TrafficTiming, *, scale_timeout_seconds: float) -> Expectation:
    """`model` (`bluegreen.timing.release_model` of `traffic`) mapped onto the release's phases and events."""
    seconds = {phase.name: phase.seconds for phase in model.phases}
    return Expectation(
        phases={
            SCALE_UP: seconds["provisioning"],
            DEPLOYMENT: seconds["install"] + seconds["AllowTraffic"] + seconds["BlockTraffic"],
        },
        events={
            "AllowTraffic": traffic.expected_allow_traffic_seconds,
            "BlockTraffic": traffic.expected_block_traffic_seconds,
        },
        budgets={SCALE_UP: scale_timeout_seconds},
        after_release=seconds["drain"] + seconds["termination"],
    )


@dataclass(frozen=True)
class PhaseProgress:
    """Where the running phase stands at `now`: its name, seconds spent, modelled seconds and deadline (None: none)."""

    name: str
    spent: float
    modelled: int | None
    deadline: datetime | None

    def left(self, now: datetime) -> float | None:
        """Seconds until the deadline (never negative), or None without one."""
        return None if self.deadline is None else max((self.deadline - now).total_seconds(), 0.0)


def current_phase(record: ReleaseRecord, expectation: Expectation, now: datetime) -> PhaseProgress | None:
    """The phase that has started and not ended, with the model's figure and its deadline; None between phases."""
    running = next((phase for phase in reversed(record.phases) if phase.end is None), None)
    if running is None:
        return None
    budget = expectation.budgets.get(running.name)
    if running.name == DEPLOYMENT and record.timeout_seconds:
        budget = record.timeout_seconds
    return PhaseProgress(
        name=running.name,
        spent=max((now - running.start).total_seconds(), 0.0),
        modelled=expectation.phases.get(running.name),
        deadline=running.start + timedelta(seconds=budget) if budget else None,
    )


def modelled_left(record: ReleaseRecord, expectation: Expectation, now: datetime) -> float | None:
    """The model's seconds until the release returns: the running phase's rest plus every modelled phase not begun.

    A phase that overran its figure counts 0 for its rest (the model cannot say more); None when nothing is modelled.
    """
    if not expectation.phases:
        return None
    begun = {phase.name for phase in record.phases}
    current = current_phase(record, expectation, now)
    rest = max((current.modelled or 0) - current.spent, 0.0) if current is not None else 0.0
    return rest + sum(seconds for name, seconds in expectation.phases.items() if name not in begun)
