"""How long CodeDeploy's traffic steps take for given target-group settings (DESIGN F7).

A target becomes healthy after `healthy_threshold` consecutive passing checks, one per interval, and CodeDeploy
notices on its next look; leaving takes the same plus the deregistration delay. These are the estimates the demo and
the rehearsal print, set against the ALB's defaults to show what the tuning buys.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config import HealthCheck

# ELBv2 CreateTargetGroup defaults for HTTP targets, and the default deregistration delay.
ALB_DEFAULT_INTERVAL_SECONDS = 30
ALB_DEFAULT_HEALTHY_THRESHOLD = 5
ALB_DEFAULT_DEREGISTRATION_DELAY_SECONDS = 300


@dataclass(frozen=True)
class TrafficSteps:
    """Estimated seconds for AllowTraffic and BlockTraffic."""

    allow_traffic_seconds: int
    block_traffic_seconds: int


def traffic_steps(*, interval_seconds: int, healthy_threshold: int, deregistration_delay_seconds: int) -> TrafficSteps:
    """About healthy-threshold x interval + interval to let traffic in; plus the deregistration delay to block it."""
    allow = healthy_threshold * interval_seconds + interval_seconds
    return TrafficSteps(allow_traffic_seconds=allow, block_traffic_seconds=allow + deregistration_delay_seconds)


def tuned_steps(health_check: HealthCheck, deregistration_delay_seconds: int) -> TrafficSteps:
    """The estimate for this stack's settings."""
    return traffic_steps(
        interval_seconds=health_check.interval_seconds,
        healthy_threshold=health_check.healthy_threshold,
        deregistration_delay_seconds=deregistration_delay_seconds,
    )


def default_steps() -> TrafficSteps:
    """The estimate for an ALB target group left at AWS's defaults."""
    return traffic_steps(
        interval_seconds=ALB_DEFAULT_INTERVAL_SECONDS,
        healthy_threshold=ALB_DEFAULT_HEALTHY_THRESHOLD,
        deregistration_delay_seconds=ALB_DEFAULT_DEREGISTRATION_DELAY_SECONDS,
    )
