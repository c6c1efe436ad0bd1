"""What a run of the release tool did, collected as it goes, for the summary, the JSON file and the timeline."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bluegreen.timing import ReleaseModel
from release.errors import ExitCode, ReleaseError
from release.follow import Snapshot
from release.runtime import Runtime


@dataclass
class Phase:
    """A named stretch of the run with its start and end."""

    name: str
    start: datetime
    end: datetime | None = None

    @property
    def seconds(self) -> float | None:
        """Duration once finished."""
        return (self.end - self.start).total_seconds() if self.end else None


@dataclass
class ReleaseRecord:
    """Facts about one run; filled in step by step, read by `report`."""

    command: str
    started: datetime
    application: str = ""
    deployment_group: str = ""
    # This run's id: in the release lease and at the start of its deployment's description.
    release_id: str | None = None
    finished: datetime | None = None
    phases: list[Phase] = field(default_factory=list)
    # The revision's content hash (release.tree: its S3 key's name), its file count, and the stored zip's size in
    # bytes (whether uploaded by this run or found unchanged).
    bundle_sha256: str | None = None
    bundle_size: int | None = None
    bundle_files: int | None = None
    revision: dict[str, Any] | None = None
    uploaded: bool | None = None
    live_before: str | None = None
    live_after: str | None = None
    idle: str | None = None
    first_release: bool = False
    recovered: list[str] = field(default_factory=list)
    # The bake window (release.bake): how it ended, the fast rollback's measured and modelled time.
    bake: list[str] = field(default_factory=list)
    capacity: int | None = None
    timeout_seconds: float | None = None
    deployment_id: str | None = None
    deployment_status: str | None = None
    snapshot: Snapshot | None = None
    rollback_id: str | None = None
    rollback_status: str | None = None
    rollback_message: str | None = None
    failure: list[str] = field(default_factory=list)
    error: ReleaseError | None = None
    # The release-time model (bluegreen.timing) for this release's target group, configuration and capacity, which
    # the report sets beside the measured phases.
    model: ReleaseModel | None = None

    @property
    def exit_code(self) -> int:
        """0 when released, else the error's documented exit code."""
        return int(self.error.exit_code) if self.error else int(ExitCode.RELEASED)

    @contextlib.contextmanager
    def phase(self, name: str, runtime: Runtime) -> Iterator[Phase]:
        """Time a phase; it is recorded even when it fails, so the report shows where the time went."""
        current = Phase(name, runtime.now())
        self.phases.append(current)
        try:
            yield current
        finally:
            current.end = runtime.now()
