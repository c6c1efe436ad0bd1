"""The mutable state of one rehearsal, shared by its steps (the result they add up to is frozen)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from release.rehearse.model import DEPLOYMENT_ID, EventResult, HealthResult, RehearsalOptions, ShutdownResult
from release.rehearse.processes import ProcessTracker


class StepFailed(Exception):
    """Ends the lifecycle: an event failed (its result is already recorded)."""


def now() -> datetime:
    """The current time in UTC, as every event of the report and timeline is stamped."""
    return datetime.now(UTC)


@dataclass
class RunState:
    """Mutable state of one rehearsal (internal; the result is frozen)."""

    options: RehearsalOptions
    out: TextIO
    token: str
    sandbox: Path
    tracker: ProcessTracker
    events: list[EventResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What the rehearsal could not reproduce (the result is INCOMPLETE, never PASSED), and what would go worse on the
    # instance than here (a hook ignoring SIGTERM).
    incomplete: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    health: HealthResult | None = None
    shutdown: ShutdownResult | None = None
    script_log: TextIO | None = None

    @property
    def root(self) -> Path:
        return self.sandbox / "root"

    @property
    def deployment_group_id(self) -> str:
        # A stable UUID, shaped like the real DEPLOYMENT_GROUP_ID, for the same application and group names.
        name = f"rehearsal:{self.options.application_name}:{self.options.deployment_group_name}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    @property
    def deployment_dir(self) -> Path:
        return self.sandbox / "deployment-root" / self.deployment_group_id / DEPLOYMENT_ID

    @property
    def deployment_instructions(self) -> Path:
        """Where the agent keeps each deployment group's install instructions and cleanup file."""
        return self.sandbox / "deployment-root" / "deployment-instructions"

    @property
    def archive(self) -> Path:
        return self.deployment_dir / "deployment-archive"

    @property
    def scripts_log_path(self) -> Path:
        """Where the agent keeps its `scripts.log` for this deployment."""
        return self.deployment_dir / "logs" / "scripts.log"

    def say(self, message: str) -> None:
        self.out.write(f"{datetime.now().strftime('%H:%M:%S')} {message}\n")
        self.out.flush()

    def record(self, event: EventResult) -> EventResult:
        self.events.append(event)
        return event
