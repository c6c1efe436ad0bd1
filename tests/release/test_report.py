"""The report: one-screen summary, JSON file, timeline spans, GitHub step summary and annotations."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

from release.ci import CiContext
from release.errors import DeploymentFailed, TimedOut
from release.follow import Snapshot, read_targets
from release.record import Phase, ReleaseRecord
from release.report import github_markdown, model_rows, spans, summary_json, summary_text, write_reports

from tests.release import scenarios
from tests.release.fakes import T0, FakeCodeDeploy, Frame, Script
from tests.release.test_timeline import assert_valid_gantt


def _record(*, failed: bool = False) -> ReleaseRecord:
    frames = [Frame("Failed", scenarios.failed_targets())] if failed else scenarios.success().frames[-1:]
    codedeploy = FakeCodeDeploy("app", "group", "slot-a", script=Script(frames))
    deployment_id = codedeploy.create_deployment(
        applicationName="app",
        deploymentGroupName="group",
        revision={
            "revisionType": "S3",
            "s3Location": {"bucket": "b", "key": "k.zip", "bundleType": "zip", "eTag": "e", "version": "v1"},
        },
        targetInstances={"autoScalingGroups": ["slot-b"]},
    )["deploymentId"]
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    record = ReleaseRecord(
        command="release", started=T0, application="app", deployment_group="group", finished=T0 + timedelta(seconds=95)
    )
    record.phases = [
        Phase("bundle", T0, T0 + timedelta(seconds=2)),
        Phase("deployment", T0, T0 + timedelta(seconds=90)),
    ]
    record.revision = info["revision"]
    record.uploaded = False
    record.live_before, record.idle = "slot-a", "slot-b"
    record.deployment_id, record.deployment_status = deployment_id, info["status"]
    record.snapshot = Snapshot(info, read_targets(codedeploy, deployment_id))
    if failed:
        record.failure = ["Green instance i-1: AfterInstall failed"]
        record.error = DeploymentFailed("deployment failed; traffic stays on slot-a.")
    else:
        record.live_after = "slot-b"
    return record


def test_the_summary_shows_revision_slot_switch_and_phase_durations() -> None:
    text = summary_text(_record())
    assert "release released (exit 0)" in text
    assert "s3://b/k.zip version v1 (unchanged, upload skipped)" in text
    assert "slot-a -> slot-b" in text
    assert "bundle 2 s, deployment 1 min 30 s" in text
    assert "total            1 min 35 s" in text


def test_a_failed_summary_says_what_to_do_next() -> None:
    text = summary_text(_record(failed=True))
    assert "exit 1" in text and "What to do:" in text and "slot-a stays live" in text


def test_the_json_summary_carries_every_instance_event_with_diagnostics() -> None:
    data = json.loads(json.dumps(summary_json(_record(failed=True)), default=str))
    assert data["exitCode"] == 1 and data["outcome"] == "deployment failed"
    failed = [e for i in data["instances"] for e in i["events"] if e["status"] == "Failed"]
    assert failed[0]["scriptName"] == "scripts/after_install.sh"
    assert "missing key" in failed[0]["logTail"]


def test_timeline_spans_cover_started_events_per_instance() -> None:
    result = spans(_record())
    instances = {(span.section, span.lane) for span in result if span.section != "release"}
    assert instances == {("Green", scenarios.GREEN_1), ("Green", scenarios.GREEN_2), ("Blue", scenarios.BLUE_1)}
    assert all(span.start is not None for span in result)


def test_the_timeline_adds_the_releases_own_phases_and_the_old_instances_drain() -> None:
    # Given a released run: bundle, upload, instance boot, the deployment and the switch, and a Blue BlockTraffic
    record = _record()
    record.phases = [
        Phase("bundle", T0, T0 + timedelta(seconds=2)),
        Phase("upload", T0 + timedelta(seconds=2), T0 + timedelta(seconds=3)),
        Phase("scale-up", T0 + timedelta(seconds=3), T0 + timedelta(seconds=90)),
        Phase("deployment", T0 + timedelta(seconds=90), T0 + timedelta(seconds=200)),
        Phase("switch", T0 + timedelta(seconds=200), T0 + timedelta(seconds=201)),
    ]
    # When its timeline is built
    release = [(span.lane, span.label, span.status) for span in spans(record) if span.section == "release"]
    # Then the tool's own work and the drain lead the picture
    assert release == [
        ("bundle and upload", "bundle", "Succeeded"),
        ("bundle and upload", "upload", "Succeeded"),
        ("instance boot", "scale-up", "Succeeded"),
        ("deployment", "deployment", "Succeeded"),
        ("switch", "switch", "Succeeded"),
        ("old instances drain", "BlockTraffic", "Succeeded"),
    ]


def test_a_failed_releases_timeline_marks_the_deployment_and_the_rollback_and_says_why(tmp_path: Path) -> None:
    # Given a failed release whose rollback succeeded
    record = _record(failed=True)
    record.phases.append(Phase("rollback", T0 + timedelta(seconds=90), T0 + timedelta(seconds=95)))
    record.rollback_id, record.rollback_status = "d-2", "Succeeded"
    # When the reports are written
    written = write_reports(record, tmp_path, CiContext.from_env({}), io.StringIO())
    svg = written["timeline"].read_text()
    # Then the deployment bar is failed, the rollback's succeeded, and the picture says why
    statuses = {span.label: span.status for span in spans(record) if span.section == "release"}
    assert statuses["deployment"] == "Failed" and statuses["rollback"] == "Succeeded"
    assert 'class="reason"' in svg and "deployment failed; traffic stays on slot-a." in svg


def test_the_step_summary_shows_the_timeline_inline_as_a_valid_mermaid_gantt(tmp_path: Path) -> None:
    # Given a released, a failed and a timed-out record
    failed = _record(failed=True)
    timed_out = _record(failed=True)
    timed_out.error = TimedOut("deployment d-1 did not finish within 60 s; it was stopped with rollback.")
    for record in (_record(), failed, timed_out):
        # When GitHub's step summary is written
        markdown = github_markdown(record, None)
        # Then it carries one mermaid block, valid for Mermaid's Gantt grammar, a task per lane
        block = markdown.split("```mermaid\n", 1)[1].split("```", 1)[0]
        names = assert_valid_gantt(block)
        outcome = "deployment" if record.error is None else "deployment failed"
        assert names[: len(record.phases)] == ["bundle and upload", outcome]
        assert scenarios.GREEN_1 in names or f"{scenarios.GREEN_1} AfterInstall failed" in names


def test_reports_are_written_and_github_gets_a_step_summary_and_an_annotation(tmp_path: Path) -> None:
    # Given a failed release run inside GitHub Actions
    stream = io.StringIO()
    step_summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step_summary)}
    # When writing the reports
    written = write_reports(_record(failed=True), tmp_path / "report", CiContext.from_env(env), stream)
    # Then the JSON and the SVG exist, the step summary has a phases table, and an error annotation was printed
    assert written["summary"].exists() and written["timeline"].read_text().lstrip().startswith("<")
    assert "| phase | duration |" in step_summary.read_text()
    annotation = next(line for line in stream.getvalue().splitlines() if line.startswith("::error"))
    assert "%0AWhat to do:" in annotation


def test_outside_github_no_workflow_commands_are_printed(tmp_path: Path) -> None:
    stream = io.StringIO()
    write_reports(_record(), tmp_path, CiContext.from_env({}), stream)
    assert "::" not in stream.getvalue()


def test_the_report_links_the_release_dashboard_and_the_deployment_in_every_form(tmp_path: Path) -> None:
    # Given the console links of the release (release.links.console_links)
    record = _record()
    links = {
        "dashboard": "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/d",
        "deployment": "https://eu-west-1.console.aws.amazon.com/codesuite/codedeploy/deployments/d-1?region=eu-west-1",
    }
    step_summary = tmp_path / "step-summary.md"
    ci = CiContext.from_env({"GITHUB_STEP_SUMMARY": str(step_summary)})
    stream = io.StringIO()
    # When writing the reports
    write_reports(record, tmp_path / "report", ci, stream, links=links)
    # Then the printed summary, the JSON file and the step summary carry them
    assert f"dashboard        {links['dashboard']}" in stream.getvalue()
    assert f"deployment page  {links['deployment']}" in stream.getvalue()
    assert json.loads((tmp_path / "report" / "release-summary.json").read_text())["links"] == links
    assert f"- Dashboard: {links['dashboard']}" in step_summary.read_text()


# -- the release-time model beside the measured phases ----------------------------------------------------------------


def test_each_modelled_phase_stands_beside_the_time_this_release_measured_for_it() -> None:
    # When
    rows = {row.phase: (row.modelled, row.measured) for row in model_rows(scenarios.measured_release())}
    # Then provisioning is the scale-up phase, install runs from the deployment's start to the last ValidateService,
    # the traffic steps span their first to last event, and what follows the release is not measured
    assert rows == {
        "provisioning": (100, 92.0),
        "install": (20, 18.0),
        "AllowTraffic": (20, 22.0),
        "BlockTraffic": (30, 33.0),
        "drain": (5, None),
        "termination": (30, None),
        "release": (170, 168.0),
    }


def test_the_printed_report_and_the_json_carry_the_model_beside_the_measurements(tmp_path: Path) -> None:
    # When
    stream = io.StringIO()
    write_reports(scenarios.measured_release(), tmp_path, CiContext(), stream)
    # Then
    assert "model vs measured" in stream.getvalue()
    assert "  release       2 min 50 s  2 min 48 s  scale-up + deployment phases" in stream.getvalue()
    data = json.loads((tmp_path / "release-summary.json").read_text())
    assert data["model"][0] == {
        "phase": "provisioning",
        "modelledSeconds": 100,
        "measuredSeconds": 92.0,
        "measured": "scale-up phase",
    }


def test_a_run_without_a_model_prints_no_model_section(tmp_path: Path) -> None:
    # Given a run refused before any slot was filled (no model was set)
    stream = io.StringIO()
    # When
    write_reports(_record(), tmp_path, CiContext(), stream)
    # Then
    assert "model vs measured" not in stream.getvalue()
    assert json.loads((tmp_path / "release-summary.json").read_text())["model"] == []


def test_a_rollback_phase_without_a_rollback_deployment_is_drawn_as_skipped_not_failed() -> None:
    # Given a stopped deployment for which CodeDeploy started no rollback (the phase only waited for one)
    record = _record(failed=True)
    record.phases.append(Phase("rollback", T0 + timedelta(seconds=90), T0 + timedelta(seconds=150)))
    record.rollback_message = "No rollback: first deployment"
    # When its timeline is built
    statuses = {span.label: span.status for span in spans(record) if span.section == "release"}
    # Then the rollback lane says it was skipped
    assert statuses["rollback"] == "Skipped"
