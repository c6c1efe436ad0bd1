"""The release's report: a one-screen summary, a JSON summary file, a timeline picture, and GitHub's step summary.

Written on every exit path (success, failure, timeout, cancel, refusal), from the `ReleaseRecord` alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from release.ci import CiContext
from release.follow import format_seconds
from release.record import ReleaseRecord
from release.timeline import STATUSES, Span, write_timeline

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


def _total(record: ReleaseRecord) -> float | None:
    return (record.finished - record.started).total_seconds() if record.finished else None


# The console links the summary shows (release.links.console_links), in this order.
LINK_LABELS = (
    ("dashboard", "dashboard"),
    ("deployment", "deployment page"),
    ("rollback", "rollback page"),
    ("deploymentGroup", "console"),
)


def summary_text(record: ReleaseRecord, links: Mapping[str, str] | None = None) -> str:
    """The one-screen summary printed at the end; `links` adds the dashboard and console pages."""
    switch = (
        f"{record.live_before} -> {record.live_after}"
        if record.live_after
        else f"{record.live_before or '-'} stays live" + (f" ({record.idle} not switched)" if record.idle else "")
    )
    lines = [
        f"== {record.command} {outcome(record)} (exit {record.exit_code}) ==",
        f"application      {record.application} / {record.deployment_group}",
        f"revision         {_revision_text(record)}",
        f"bundle           {record.bundle_sha256 or '-'}"
        + (f" ({record.bundle_files} files, {record.bundle_size} bytes)" if record.bundle_sha256 else ""),
        f"slots            {switch}" + (" [first release]" if record.first_release else ""),
        f"deployment       {record.deployment_id or '-'} {record.deployment_status or ''}".rstrip(),
    ]
    if record.rollback_id or record.rollback_message:
        lines.append(
            f"rollback         {record.rollback_id or '-'} {record.rollback_status or ''} "
            f"{record.rollback_message or ''}".rstrip()
        )
    lines.extend(f"recovered        {note}" for note in record.recovered)
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
            "path": record.bundle_path,
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
    }


def spans(record: ReleaseRecord) -> list[Span]:
    """Every started lifecycle event as a timeline span, one lane per instance (Green lanes first)."""
    result: list[Span] = []
    for target in record.snapshot.targets if record.snapshot else ():
        lane = f"{target.target_id} ({target.label or '?'})"
        for event in target.events:
            if event.start is None:
                continue
            status = event.status if event.status in STATUSES else "Pending"
            result.append(Span(lane=lane, label=event.name, start=event.start, end=event.end, status=status))
    return result


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
    if record.rollback_id:
        parts.append(f"- Rollback: `{record.rollback_id}` {record.rollback_status or ''}")
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
    return "\n".join(parts) + "\n"


def _escape_annotation(text: str) -> str:
    # Workflow commands: %, CR and LF must be escaped in the message (GitHub "Workflow commands" reference).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


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
    report_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    summary_path = report_dir / SUMMARY_FILE
    summary_path.write_text(json.dumps(summary_json(record, links), indent=2, default=str) + "\n", encoding="utf-8")
    written["summary"] = summary_path
    timeline: Path | None = None
    if record.snapshot and record.snapshot.targets:
        title = f"{record.application} {record.deployment_id or ''} ({outcome(record)})"
        timeline = write_timeline(report_dir / TIMELINE_FILE, spans(record), title=title)
        written["timeline"] = timeline
    stream.write("\n" + summary_text(record, links) + "\n")
    stream.write(f"summary: {summary_path}" + (f"  timeline: {timeline}" if timeline else "") + "\n")
    if ci.step_summary is not None:
        with ci.step_summary.open("a", encoding="utf-8") as handle:
            handle.write(github_markdown(record, timeline, links))
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
