"""The release's report: a one-screen summary, a JSON summary file, a timeline picture, and GitHub's step summary.

Written on every exit path (success, failure, timeout, cancel, refusal), from the `ReleaseRecord` alone.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bluegreen.timing import RELEASE_ROW, ModelRow
from release.appspec import GREEN_EVENT_ORDER
from release.ci import CiContext
from release.errors import InputError
from release.follow import LifecycleEvent, Target, format_seconds
from release.record import Phase, ReleaseRecord
from release.timeline import STATUSES, Span, mermaid_gantt, write_timeline

SUMMARY_FILE = "release-summary.json"
TIMELINE_FILE = "timeline.svg"
OUTCOMES = {
    0: "released",
    1: "deployment failed",
    2: "bad input",
    3: "timed out",
    4: "cancelled",
    5: "refused",
    7: "released, finishing incomplete",
    8: "AWS unreachable or refused",
}


def outcome(record: ReleaseRecord) -> str:
    """A word for how the run ended."""
    if record.exit_code == 0 and record.deployment_id and record.live_after is None:
        return "started, not followed"  # `release --no-wait`: the deployment runs on, nobody switched yet
    return OUTCOMES.get(record.exit_code, "failed")


def _revision_text(record: ReleaseRecord) -> str:
    location = (record.revision or {}).get("s3Location") or {}
    if not location:
        return "-"
    pin = f" version {location['version']}" if location.get("version") else f" eTag {location.get('eTag', '?')}"
    how = "" if record.uploaded is None else " (uploaded)" if record.uploaded else " (unchanged, upload skipped)"
    return f"s3://{location.get('bucket')}/{location.get('key')}{pin}{how}"


def rollback_text(record: ReleaseRecord) -> str | None:
    """`d-2 Succeeded` once the rollback deployment was followed, else CodeDeploy's rollback message; None: no rollback.

    The message (RollbackInfo.rollbackMessage) describes the rollback as it stood when it was read, right after the
    failure ("in progress"): beside the rollback deployment's own final status it would contradict it (F74).
    """
    if record.rollback_id and record.rollback_status:
        return f"{record.rollback_id} {record.rollback_status}"
    if record.rollback_id or record.rollback_message:
        return f"{record.rollback_id or '-'} {record.rollback_message or ''}".rstrip()
    return None


def _total(record: ReleaseRecord) -> float | None:
    return (record.finished - record.started).total_seconds() if record.finished else None


# The console links the summary shows (release.links.console_links), in this order.
LINK_LABELS = (
    ("dashboard", "dashboard"),
    ("deployment", "deployment page"),
    ("rollback", "rollback page"),
    ("deploymentGroup", "console"),
)


def _bundle_text(record: ReleaseRecord) -> str:
    """The bundle's content hash with what is known of it: a run that stopped before the upload has no size."""
    if not record.bundle_sha256:
        return "-"
    known = [f"{record.bundle_files} files"] if record.bundle_files is not None else []
    known += [f"{record.bundle_size} bytes"] if record.bundle_size is not None else []
    return record.bundle_sha256 + (f" ({', '.join(known)})" if known else "")


def _slots_text(record: ReleaseRecord) -> str:
    """`A -> B`, `A stays live (B not switched)`, or `-` when the run stopped before it knew the live slot."""
    if record.live_after:
        return f"{record.live_before} -> {record.live_after}"
    if not record.live_before:
        return "-"
    return f"{record.live_before} stays live" + (f" ({record.idle} not switched)" if record.idle else "")


def summary_text(record: ReleaseRecord, links: Mapping[str, str] | None = None) -> str:
    """The one-screen summary printed at the end; `links` adds the dashboard and console pages."""
    lines = [
        f"== {record.command} {outcome(record)} (exit {record.exit_code}) ==",
        f"application      {record.application} / {record.deployment_group}",
        f"revision         {_revision_text(record)}",
        f"bundle           {_bundle_text(record)}",
        f"slots            {_slots_text(record)}" + (" [first release]" if record.first_release else ""),
        f"deployment       {record.deployment_id or '-'} {record.deployment_status or ''}".rstrip(),
    ]
    rollback = rollback_text(record)
    if rollback:
        lines.append(f"rollback         {rollback}")
    lines.extend(f"recovered        {note}" for note in record.recovered)
    lines.extend(f"bake window      {note}" for note in record.bake)
    lines.append("phases           " + ", ".join(f"{p.name} {format_seconds(p.seconds)}" for p in record.phases))
    lines.append(f"total            {format_seconds(_total(record))}")
    lines.extend(f"{label:17}{(links or {})[key]}" for key, label in LINK_LABELS if key in (links or {}))
    if record.failure:
        lines.append("failure:")
        lines.extend(f"  {line}" for line in record.failure)
    if record.error is not None:
        lines.append(record.error.describe())
    return "\n".join(lines)


def summary_json(record: ReleaseRecord, links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The machine-readable summary (stable keys; times in ISO 8601 UTC); `links` are the console pages."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    targets = record.snapshot.targets if record.snapshot else ()
    return {
        "command": record.command,
        "outcome": outcome(record),
        "exitCode": record.exit_code,
        "message": record.error.message if record.error else None,
        "hint": record.error.hint if record.error else None,
        "application": record.application,
        "deploymentGroup": record.deployment_group,
        "startedAt": iso(record.started),
        "finishedAt": iso(record.finished),
        "totalSeconds": _total(record),
        "bundle": {
            "sha256": record.bundle_sha256,
            "size": record.bundle_size,
            "files": record.bundle_files,
        },
        "revision": record.revision,
        "uploaded": record.uploaded,
        "slots": {
            "liveBefore": record.live_before,
            "idle": record.idle,
            "liveAfter": record.live_after,
            "capacity": record.capacity,
            "firstRelease": record.first_release,
        },
        "recovered": record.recovered,
        "bakeWindow": record.bake,
        "deployment": {
            "id": record.deployment_id,
            "status": record.deployment_status,
            "timeoutSeconds": record.timeout_seconds,
        },
        "rollback": {"id": record.rollback_id, "status": record.rollback_status, "message": record.rollback_message},
        "phases": [
            {"name": p.name, "start": iso(p.start), "end": iso(p.end), "seconds": p.seconds} for p in record.phases
        ],
        "instances": [
            {
                "id": target.target_id,
                "label": target.label,
                "status": target.status,
                "events": [
                    {
                        "name": e.name,
                        "status": e.status,
                        "start": iso(e.start),
                        "end": iso(e.end),
                        "seconds": e.seconds,
                        "errorCode": e.error_code or None,
                        "scriptName": e.script_name or None,
                        "message": e.message or None,
                        "logTail": e.log_tail or None,
                    }
                    for e in target.events
                ],
            }
            for target in targets
        ],
        "failure": record.failure,
        "links": dict(links or {}),
        "model": [
            {"phase": row.phase, "modelledSeconds": row.modelled, "measuredSeconds": row.measured, "measured": row.how}
            for row in model_rows(record)
        ],
    }


# The release's own lanes in the timeline, by record phase (release.orchestrate): what the tool did itself.
PHASE_LANES = {
    "bundle": "bundle and upload",
    "pre-flight": "bundle and upload",
    "upload": "bundle and upload",
    "slots": "bundle and upload",
    "scale-up": "instance boot",
    "deployment": "deployment",
    "switch": "switch",
    "bake": "bake window",
    "rollback": "rollback",
}
RELEASE_SECTION = "release"
DRAIN_LANE = "old instances drain"


def _phase_status(record: ReleaseRecord, phase: Phase) -> str:
    """Succeeded, or how the phase ended: the deployment's and the rollback's own status, Failed where the run ended."""
    if phase.end is None:
        return "InProgress"
    if phase.name == "deployment" and record.deployment_status:
        return "Succeeded" if record.deployment_status == "Succeeded" else "Failed"
    if phase.name == "rollback":
        if record.rollback_id is None:
            return "Skipped"  # CodeDeploy started no rollback deployment: the phase only waited for one
        return {"Succeeded": "Succeeded", "InProgress": "InProgress"}.get(record.rollback_status or "", "Failed")
    if record.error is not None and phase is record.phases[-1]:
        return "Failed"
    return "Succeeded"


def _drain(targets: Sequence[Target]) -> Span | None:
    """The old (Blue) instances' BlockTraffic, together: where they were deregistered and drained."""
    blocks = [
        event
        for target in targets
        if target.label == "Blue"
        for event in target.events
        if event.name == "BlockTraffic" and event.start is not None
    ]
    if not blocks:
        return None
    statuses = {event.status for event in blocks}
    status = next((s for s in ("Failed", "InProgress") if s in statuses), "Succeeded")
    ends = [event.end for event in blocks]
    end = None if status == "InProgress" or None in ends else max(end for end in ends if end is not None)
    start = min(event.start for event in blocks if event.start is not None)
    return Span(DRAIN_LANE, "BlockTraffic", start, end, status, section=RELEASE_SECTION)


def spans(record: ReleaseRecord) -> list[Span]:
    """The timeline: the release's phases and the old instances' drain, then every started lifecycle event.

    Release lanes come first (section "release"), then one lane per instance in a section per label (Green first).
    """
    result = [
        Span(
            PHASE_LANES.get(phase.name, phase.name),
            phase.name,
            phase.start,
            phase.end,
            _phase_status(record, phase),
            section=RELEASE_SECTION,
        )
        for phase in record.phases
    ]
    targets = record.snapshot.targets if record.snapshot else ()
    drain = _drain(targets)
    if drain is not None:
        result.append(drain)
    for target in targets:
        for event in target.events:
            if event.start is None:
                continue
            status = event.status if event.status in STATUSES else "Pending"
            result.append(
                Span(target.target_id, event.name, event.start, event.end, status, section=target.label or "?")
            )
    return result


def _timeline_title(record: ReleaseRecord) -> str:
    return f"{record.application} {record.deployment_id or ''} ({outcome(record)})".replace("  ", " ")


def _reason(record: ReleaseRecord) -> str | None:
    """Why the run failed, in one line (the error's first), for the picture."""
    return record.error.message.splitlines()[0] if record.error is not None and record.error.message else None


def github_markdown(record: ReleaseRecord, timeline: Path | None, links: Mapping[str, str] | None = None) -> str:
    """The GitHub step summary: outcome, slots, phases table, failure details."""
    icon = "✅" if record.exit_code == 0 else "❌"
    rows = "\n".join(f"| {p.name} | {format_seconds(p.seconds)} |" for p in record.phases)
    parts = [
        f"### {icon} {record.command}: {outcome(record)} (exit {record.exit_code})",
        "",
        f"- Revision: `{_revision_text(record)}`",
        f"- Slots: `{record.live_before or '-'}` → `{record.live_after or record.live_before or '-'}`",
        f"- Deployment: `{record.deployment_id or '-'}` {record.deployment_status or ''}",
    ]
    rollback = rollback_text(record)
    if rollback:
        parts.append(f"- Rollback: {rollback}")
    if timeline is not None:
        parts.append(f"- Timeline: `{timeline}` (uploaded as an artifact by the workflow)")
    parts.extend(f"- {label.capitalize()}: {(links or {})[key]}" for key, label in LINK_LABELS if key in (links or {}))
    parts += [
        "",
        "| phase | duration |",
        "| --- | --- |",
        rows,
        f"| **total** | **{format_seconds(_total(record))}** |",
    ]
    if record.failure or record.error:
        parts += ["", "```text", *record.failure, record.error.describe() if record.error else "", "```"]
    timeline_spans = spans(record)
    if timeline_spans:
        # GitHub draws a mermaid block as a diagram (docs/decisions.md F75): the timeline inline.
        gantt = mermaid_gantt(timeline_spans, title=_timeline_title(record)).rstrip("\n")
        parts += ["", "```mermaid", gantt, "```"]
    return "\n".join(parts) + "\n"


# -- the release-time model beside what this release measured (issue 13) ---------------------------------------------

# The replacement instance's events up to ValidateService: what the model calls "install".
_INSTALL_EVENTS = frozenset(GREEN_EVENT_ORDER[: GREEN_EVENT_ORDER.index("BeforeAllowTraffic")])
_NOT_MEASURED = "not measured: after the release returns"


def model_rows(record: ReleaseRecord) -> list[ModelRow]:
    """The model's phases (`record.model`), each with what this release measured for it; [] without a model.

    Measured, from the record alone: provisioning = the `scale-up` phase (scale the idle slot until every instance is
    InService); install = from the start of the `deployment` phase to the last replacement instance's ValidateService
    (the agent's pick-up included, as in the model); AllowTraffic and BlockTraffic = from the first such event's start
    to the last one's end, over the Green and the Blue instances; release = scale-up and deployment together. Drain
    and termination happen after the tool returns and are not measured.
    """
    if record.model is None:
        return []
    phases = {phase.name: phase for phase in record.phases}
    green = _events(record, "Green")
    deployment = phases.get("deployment")
    install_end = _last_end(event for event in green if event.name in _INSTALL_EVENTS)
    measured: dict[str, tuple[float | None, str]] = {
        "provisioning": (_phase_seconds(record, "scale-up"), "scale-up phase"),
        "install": (
            (install_end - deployment.start).total_seconds() if deployment and install_end else None,
            "deployment start to the last ValidateService",
        ),
        "AllowTraffic": (_span(e for e in green if e.name == "AllowTraffic"), "first to last AllowTraffic (Green)"),
        "BlockTraffic": (
            _span(e for e in _events(record, "Blue") if e.name == "BlockTraffic"),
            "first to last BlockTraffic (Blue)",
        ),
    }
    rows = [
        ModelRow(phase.name, phase.seconds, *measured.get(phase.name, (None, _NOT_MEASURED)))
        for phase in record.model.phases
    ]
    provisioning, deployed = _phase_seconds(record, "scale-up"), _phase_seconds(record, "deployment")
    total = provisioning + deployed if provisioning is not None and deployed is not None else None
    return [*rows, ModelRow(RELEASE_ROW, record.model.release_seconds, total, "scale-up + deployment phases")]


def model_text(record: ReleaseRecord) -> str:
    """The model beside the measured phases, one line per phase; "" without a model."""
    rows = model_rows(record)
    if not rows:
        return ""
    lines = [
        "model vs measured (bluegreen.timing; docs/performance.md)",
        f"  {'phase':<14}{'model':>10}{'measured':>12}",
    ]
    for row in rows:
        measured = format_seconds(row.measured) if row.measured is not None else "-"
        lines.append(f"  {row.phase:<14}{format_seconds(row.modelled):>10}{measured:>12}  {row.how}")
    return "\n".join(lines)


def _phase_seconds(record: ReleaseRecord, name: str) -> float | None:
    return next((phase.seconds for phase in record.phases if phase.name == name), None)


def _events(record: ReleaseRecord, label: str) -> list[LifecycleEvent]:
    targets = record.snapshot.targets if record.snapshot else ()
    return [event for target in targets if target.label == label for event in target.events]


def _last_end(events: Iterable[LifecycleEvent]) -> datetime | None:
    return max((event.end for event in events if event.end is not None), default=None)


def _span(events: Iterable[LifecycleEvent]) -> float | None:
    finished = [event for event in events if event.start is not None and event.end is not None]
    if not finished:
        return None
    start = min(event.start for event in finished if event.start is not None)
    end = max(event.end for event in finished if event.end is not None)
    return (end - start).total_seconds()


def _escape_annotation(text: str) -> str:
    # Workflow commands: %, CR and LF must be escaped in the message (GitHub "Workflow commands" reference).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def prepare_report_dir(report_dir: Path, flag: str = "--report-dir") -> None:
    """Create `report_dir` (with its parents) and prove it writable by creating and removing a file in it.

    Called before a command touches anything, so that an unwritable directory is bad input (`InputError`, exit 2)
    instead of a failure found after the deployment: raises with the directory and the system's reason.
    """
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=report_dir, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise InputError(
            f"{flag} {report_dir} cannot be written: {exc.strerror or exc}",
            hint=f"Give {flag} (or REPORT_DIR) a directory this user can create and write.",
        ) from exc


def _write_files(record: ReleaseRecord, report_dir: Path, links: Mapping[str, str] | None) -> dict[str, Path]:
    """Write the summary JSON and, when there are phases, the timeline SVG; return their paths (`OSError` passes)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    summary_path = report_dir / SUMMARY_FILE
    summary_path.write_text(json.dumps(summary_json(record, links), indent=2, default=str) + "\n", encoding="utf-8")
    written = {"summary": summary_path}
    timeline_spans = spans(record)
    if timeline_spans:
        written["timeline"] = write_timeline(
            report_dir / TIMELINE_FILE, timeline_spans, title=_timeline_title(record), reason=_reason(record)
        )
    return written


def write_reports(
    record: ReleaseRecord,
    report_dir: Path,
    ci: CiContext,
    stream: TextIO,
    *,
    links: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Print the summary, write the JSON file and the timeline, and feed GitHub Actions when `ci` says it runs there.

    `links` (release.links.console_links) put the release dashboard and the console pages in every form of the report.
    """
    # The outcome is printed first: a file that cannot be written afterwards costs the files, never the outcome.
    stream.write("\n" + summary_text(record, links) + "\n")
    if model := model_text(record):
        stream.write(model + "\n")
    written: dict[str, Path] = {}
    try:
        written = _write_files(record, report_dir, links)
    except OSError as exc:
        stream.write(f"note: the report files could not be written to {report_dir} ({exc}); the outcome above stands\n")
    else:
        timeline_note = f"  timeline: {written['timeline']}" if "timeline" in written else ""
        stream.write(f"summary: {written['summary']}{timeline_note}\n")
    if ci.step_summary is not None:
        try:
            with ci.step_summary.open("a", encoding="utf-8") as handle:
                handle.write(github_markdown(record, written.get("timeline"), links))
        except OSError as exc:
            stream.write(f"note: the GitHub step summary could not be written ({exc}); the outcome above stands\n")
    if ci.github_actions:
        if record.error is not None:
            stream.write(
                f"::error title={record.command} {outcome(record)}::{_escape_annotation(record.error.describe())}\n"
            )
        else:
            stream.write(
                f"::notice title={record.command} {outcome(record)}::{_escape_annotation(summary_text(record))}\n"
            )
    stream.flush()
    return written
