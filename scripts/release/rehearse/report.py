"""The rehearsal's report: the human summary, and the files written to `--report-dir`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from release.rehearse.model import RehearsalResult
from release.timeline import write_timeline


def format_report(result: RehearsalResult) -> str:
    """The human summary printed at the end: one line per event, the health and shutdown figures, the failure."""
    lines = [f"Rehearsal of {result.app_dir}: {result.verdict} (exit code {result.exit_code})"]
    if result.events:
        lines.append(f"  {'Lifecycle event':<22} {'Status':<10} {'Duration':>9}  Details")
    for event in result.events:
        duration = event.duration_seconds
        shown = f"{duration:.2f} s" if duration is not None and event.status not in ("Skipped", "Pending") else "-"
        details = event.message if event.status != "Failed" else f"{event.error_code or 'Error'}: {event.message}"
        lines.append(f"  {event.event:<22} {event.status:<10} {shown:>9}  {details}".rstrip())
    if result.health is not None:
        health = result.health
        lines.append(f"Health check: {health.settings.describe()}")
        first = health.seconds_to_first_pass
        if health.healthy and health.seconds_to_healthy is not None and first is not None:
            interval = health.settings.interval_seconds
            lines.append(
                f"  a load balancer would put it in service at its first passing probe, {first:.2f} s after "
                "registration (one check for a new target, docs/decisions.md F85); the rehearsal went on to "
                f"{health.settings.healthy_threshold} in a row ({health.seconds_to_healthy:.2f} s, "
                f"{len(health.probes)} probes). AllowTraffic takes about {first:.1f} to {first + interval:.1f} s on "
                "AWS (the first probe comes up to one interval after registration), plus registration and CodeDeploy "
                "polling delays"
            )
        else:
            lines.append(f"  never healthy; probes: {', '.join(p.detail for p in health.probes[-5:])}")
    if result.shutdown is not None:
        shutdown = result.shutdown
        exit_text = (
            f"exited {shutdown.seconds_to_exit:.2f} s after SIGTERM"
            if shutdown.seconds_to_exit is not None
            else f"{shutdown.killed} process(es) SIGKILLed"
        )
        lines.append(
            f"Shutdown under load (GET {shutdown.path}): {shutdown.sent} sent, {shutdown.in_flight_at_sigterm} in "
            f"flight at SIGTERM, {shutdown.completed} completed, {shutdown.lost} lost; the app {exit_text}"
        )
    lines.extend(f"Warning (appspec): {warning}" for warning in result.warnings)
    lines.extend(f"Note: {note}" for note in result.notes)
    lines.extend(f"Risk: {risk}" for risk in result.risks)
    lines.extend(f"Incomplete: {reason}" for reason in result.incomplete)
    if result.failure:
        lines.append(f"Failure: {result.failure}")
    if result.log_tail:
        lines.append("Log tail of the failed event (scripts.log):")
        lines.extend(f"  {line}" for line in result.log_tail.rstrip("\n").splitlines())
    if result.sandbox is not None:
        lines.append(f"Sandbox kept at {result.sandbox}")
    lines.extend(f"Report: {path}" for path in result.report_files)
    return "\n".join(lines) + "\n"


def write_reports(result: RehearsalResult, report_dir: Path, scripts_log: Path) -> tuple[Path, ...]:
    """Write rehearsal.json, rehearsal-timeline.svg and a copy of `scripts_log` (when there is one) to `report_dir`."""
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = report_dir / "rehearsal.json"
    summary.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    picture = write_timeline(
        report_dir / "rehearsal-timeline.svg",
        result.spans(),
        title=f"Rehearsal of {result.app_dir.name}: {result.verdict.lower()}",
    )
    files = [summary, picture]
    if scripts_log.is_file():
        files.append(Path(shutil.copyfile(scripts_log, report_dir / "scripts.log")))
    return tuple(files)
