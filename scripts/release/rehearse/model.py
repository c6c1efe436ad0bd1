"""What a rehearsal is given and what it finds: the frozen options and results, and their JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bluegreen.config import HealthCheck
from release.errors import ExitCode, ReleaseError
from release.timeline import Span

DEPLOYMENT_ID = "d-REHEARSAL"
LANE_GREEN = "this machine (Green)"
LANE_BLUE = "this machine (Blue)"
# systemd's DefaultTimeoutStopSec: how long an instance shutdown waits for a service before SIGKILL.
DEFAULT_STOP_TIMEOUT_SECONDS = 90.0


class RehearsalInterrupted(ReleaseError):
    """SIGINT or SIGTERM arrived during the rehearsal; every process it started was terminated."""

    exit_code = ExitCode.CANCELLED
    default_hint = "Run the rehearsal again when ready; nothing is left behind."


@dataclass(frozen=True)
class HealthCheckSettings:
    """The target group's health check as the rehearsal's probe applies it.

    Built from a validated `bluegreen.config.HealthCheck` by `of` (the command line does so); tests build it directly
    with fractional seconds, which the target group itself does not take, to keep the rehearsal quick.
    """

    path: str
    port: int
    matcher: str
    interval_seconds: float
    timeout_seconds: float
    healthy_threshold: int

    @classmethod
    def of(cls, check: HealthCheck) -> HealthCheckSettings:
        """The probe settings of a target group with this (validated) health check."""
        return cls(
            path=check.path,
            port=check.port,
            matcher=check.matcher,
            interval_seconds=float(check.interval_seconds),
            timeout_seconds=float(check.timeout_seconds),
            healthy_threshold=check.healthy_threshold,
        )

    def matches(self, status: int) -> bool:
        """Whether HTTP `status` counts as a success for the matcher ("200", "200,204", "200-299")."""
        for part in self.matcher.split(","):
            low, _, high = part.strip().partition("-")
            if int(low) <= status <= int(high or low):
                return True
        return False

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"GET {self.path} on port {self.port}, matcher {self.matcher}, interval {self.interval_seconds:g} s, "
            f"timeout {self.timeout_seconds:g} s, healthy threshold {self.healthy_threshold}"
        )


@dataclass(frozen=True)
class RehearsalOptions:
    """Everything one rehearsal needs; built by `run_from_args` or directly by tests."""

    app_dir: Path
    health_check: HealthCheckSettings
    report_dir: Path | None = None
    keep_sandbox: bool = False
    application_name: str = "rehearsal"
    deployment_group_name: str = "rehearsal"
    # How long AllowTraffic waits for the target to turn healthy before the rehearsal calls it a failure.
    healthy_within_seconds: float = 120.0
    # Path the in-flight load requests at SIGTERM; None means the health-check path.
    shutdown_path: str | None = None
    shutdown_requests: int = 8
    # Pause between the last request sent and SIGTERM, so the app has accepted every connection.
    shutdown_settle_seconds: float = 0.3
    stop_timeout_seconds: float = DEFAULT_STOP_TIMEOUT_SECONDS
    run_application_stop: bool = False
    # Treat the appspec's warnings (what the agent accepts but the author probably did not mean) as errors.
    strict: bool = False


@dataclass(frozen=True)
class EventResult:
    """One lifecycle event: its status, timing, scripts and (on failure) the agent-style error."""

    event: str
    lane: str
    status: str  # Succeeded | Failed | Skipped | Pending
    started_at: datetime | None
    ended_at: datetime | None
    scripts: tuple[str, ...] = ()
    # The agent's: ScriptMissing | ScriptNotExecutable | ScriptTimedOut | ScriptFailed | OutputsLeftOpen | UnknownError
    error_code: str | None = None
    message: str = ""
    log: str = ""

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class Probe:
    """One health-check probe: seconds after registration, success, and what was seen."""

    at_seconds: float
    ok: bool
    detail: str


@dataclass(frozen=True)
class HealthResult:
    """Outcome of the target-group probing (AllowTraffic)."""

    healthy: bool
    seconds_to_healthy: float | None
    probes: tuple[Probe, ...]
    settings: HealthCheckSettings

    @property
    def seconds_to_first_pass(self) -> float | None:
        """When the first probe passed (seconds after the first probe), or None if none did.

        A newly registered target is healthy once it passes one check (docs/decisions.md F85): this is when a load
        balancer would put it in service; the rehearsal goes on to the healthy threshold in a row.
        """
        return next((probe.at_seconds for probe in self.probes if probe.ok), None)

    @property
    def failed_after_first_pass(self) -> tuple[Probe, ...]:
        """The probes that failed after one had passed: requests a load balancer would already have sent it."""
        first = self.seconds_to_first_pass
        return () if first is None else tuple(p for p in self.probes if not p.ok and p.at_seconds > first)


@dataclass(frozen=True)
class ShutdownResult:
    """Outcome of the shutdown: SIGTERM to the app while requests are in flight."""

    path: str
    sent: int
    in_flight_at_sigterm: int
    completed: int
    lost: int
    processes_signalled: int
    seconds_to_exit: float | None  # None when something had to be SIGKILLed
    killed: int
    errors: tuple[str, ...]


@dataclass(frozen=True)
class RehearsalResult:
    """What a rehearsal found; `exit_code` is 0 (passed), 1 (the revision failed), 2 (bad input), 4 (interrupted) or
    6 (incomplete: every event passed, but `incomplete` lists what could not be reproduced here)."""

    app_dir: Path
    exit_code: int
    failure: str | None
    log_tail: str
    events: tuple[EventResult, ...]
    health: HealthResult | None
    shutdown: ShutdownResult | None
    notes: tuple[str, ...]
    started_at: datetime
    finished_at: datetime
    sandbox: Path | None = None  # set when the sandbox was kept
    report_files: tuple[Path, ...] = ()
    # The REHEARSAL_ID every process of this rehearsal carried in its environment (to look for leftovers).
    rehearsal_id: str = ""
    incomplete: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the revision went through the whole lifecycle, and all of it was reproduced."""
        return self.exit_code == 0

    @property
    def verdict(self) -> str:
        """PASSED, INCOMPLETE (nothing failed, but not everything could be reproduced), CANCELLED (interrupted) or
        FAILED."""
        if self.exit_code == ExitCode.REHEARSAL_INCOMPLETE:
            return "INCOMPLETE"
        if self.exit_code == ExitCode.CANCELLED:
            return "CANCELLED"
        return "PASSED" if self.ok else "FAILED"

    def spans(self) -> tuple[Span, ...]:
        """The events as timeline spans (events that never started are drawn as Pending at the failure time)."""
        spans = []
        for event in self.events:
            start = event.started_at or self.finished_at
            spans.append(Span(event.lane, event.event, start, event.ended_at, event.status))
        return tuple(spans)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary written as rehearsal.json."""
        summary: dict[str, Any] = _jsonable(
            {
                "app_dir": self.app_dir,
                "ok": self.ok,
                "verdict": self.verdict,
                "exit_code": self.exit_code,
                "failure": self.failure,
                "log_tail": self.log_tail,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                # Full logs stay in scripts.log; the summary keeps the failure's tail only.
                "events": [
                    {
                        **{k: v for k, v in asdict(event).items() if k != "log"},
                        "duration_seconds": event.duration_seconds,
                    }
                    for event in self.events
                ],
                "health": (
                    {**asdict(self.health), "seconds_to_first_pass": self.health.seconds_to_first_pass}
                    if self.health
                    else None
                ),
                "shutdown": asdict(self.shutdown) if self.shutdown else None,
                "notes": list(self.notes),
                "incomplete": list(self.incomplete),
                "risks": list(self.risks),
                "warnings": list(self.warnings),
                "sandbox": self.sandbox,
                "rehearsal_id": self.rehearsal_id,
            }
        )
        return summary


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value
