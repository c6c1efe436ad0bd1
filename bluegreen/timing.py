"""How long CodeDeploy's traffic steps take for given target-group settings (docs/decisions.md F7).

A target becomes healthy after `healthy_threshold` consecutive passing checks, one per interval, and CodeDeploy
notices on its next look; leaving takes the same plus the deregistration delay. The demo, the rehearsal and the
release tool's default timeout all use this one model, set against the ALB's defaults to show what the tuning buys.
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.config import HealthCheck

# ELBv2 CreateTargetGroup defaults for HTTP targets, and the default deregistration delay (ELB guide, target group
# health checks and target group attributes; docs/decisions.md F7).
ALB_DEFAULT_INTERVAL_SECONDS = 30
ALB_DEFAULT_HEALTHY_THRESHOLD = 5
ALB_DEFAULT_DEREGISTRATION_DELAY_SECONDS = 300


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
        """About healthy threshold x interval + interval: an upper bound of AllowTraffic (F7)."""
        return self.healthy_threshold * self.interval_seconds + self.interval_seconds

    @property
    def block_traffic_seconds(self) -> int:
        """AllowTraffic's estimate plus the deregistration delay: an upper bound of BlockTraffic (F7)."""
        return self.allow_traffic_seconds + self.deregistration_delay_seconds


ALB_DEFAULTS = TrafficTiming()
