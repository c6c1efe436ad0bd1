"""The kit's offline parts: the failing revision, the rollback rule, retained resources, assertion outputs, and the
release summary U8 reads."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from release.appspec import load_appspec
from release.ci import CiContext
from release.record import Phase, ReleaseRecord
from release.report import SUMMARY_FILE, write_reports

from integ import kit
from integ.beliefs import GROUP_ID_MARKER, Verdict, release_model_holds
from integ.settings import OVERRIDES
from tests.release import scenarios


def test_the_failing_revision_is_a_valid_revision_whose_validate_service_hook_exits_1(tmp_path):
    revision = kit.write_failing_revision(kit.SAMPLE_APP, tmp_path / "failing")

    spec = load_appspec(revision)
    hook = revision / "scripts" / "validate_service.sh"
    assert "ValidateService" in spec.hooks
    assert os.access(hook, os.X_OK)
    assert hook.read_text().rstrip().endswith("exit 1")


@pytest.mark.parametrize(("environment", "expected"), [({"DEPLOYMENT_GROUP_ID": "abc-123"}, "abc-123"), ({}, "unset")])
def test_the_failing_hook_prints_the_marker_the_group_id_verdict_reads(tmp_path, environment, expected):
    hook = kit.write_failing_revision(kit.SAMPLE_APP, tmp_path / "failing") / "scripts" / "validate_service.sh"

    # As the agent runs it: a clean environment plus its own variables, stdin closed (docs/decisions.md F10).
    run = subprocess.run(
        [str(hook)],
        env={"PATH": "/usr/bin:/bin", **environment},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 1
    assert GROUP_ID_MARKER.search(run.stdout).group(1) == expected


@pytest.mark.parametrize(
    ("healthy", "passed"),
    [
        ({"slot-a": 1}, True),
        ({"slot-a": 1, "slot-b": 1}, False),
        ({"slot-b": 1}, False),
        ({}, False),
    ],
)
def test_after_a_failed_release_traffic_must_stay_on_the_old_live_slot_only(healthy, passed):
    assert kit.traffic_stayed_on("slot-a", healthy)[0] is passed


def test_retained_resources_are_those_with_a_retain_deletion_policy():
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
            "Logs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "RetainExceptOnCreate"},
            "Queue": {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Delete"},
            "Role": {"Type": "AWS::IAM::Role"},
        }
    }
    physical = {"Bucket": "b-1", "Logs": "/aws/x", "Queue": "q", "Role": "r"}

    assert kit.retained_resources(template, physical) == [("AWS::S3::Bucket", "b-1"), ("AWS::Logs::LogGroup", "/aws/x")]


@pytest.mark.parametrize(
    ("value", "failed"),
    [
        (json.dumps({"status": "pass"}), False),
        (json.dumps({"status": "fail", "message": "Expected BLUE_GREEN"}), True),
        ("Expected BLUE_GREEN, actual IN_PLACE: fail", True),
    ],
)
def test_an_assertion_output_fails_unless_its_status_is_pass(value, failed):
    assert kit.assertion_failed(value) is failed


def test_the_kit_checks_pass_only_when_every_recorded_check_passed():
    report = kit.Report()
    assert not report.ok
    report.record("K-DEPLOY", True, "exit 0")
    assert report.ok
    report.record("K-ROLLBACK", False, "traffic moved")
    assert not report.ok
    assert "K-ROLLBACK" in report.render() and "FAIL" in report.render()


def test_the_caller_role_of_a_cloudtrail_event_is_its_session_issuers_name():
    issued = {"type": "Role", "userName": "BlueGreenIntegServiceRole", "arn": "arn:aws:iam::1:role/x"}
    event = {"CloudTrailEvent": json.dumps({"userIdentity": {"sessionContext": {"sessionIssuer": issued}}})}
    assert kit.caller_role(event) == "BlueGreenIntegServiceRole"
    assert kit.caller_role({"CloudTrailEvent": json.dumps({"userIdentity": {"type": "IAMUser"}})}) is None


class FakeElbv2:
    """RegisterTargets answers `error` (an ELBv2 error code) or accepts; every call is recorded."""

    def __init__(self, error: str | None) -> None:
        self.error = error
        self.calls: list[tuple[str, dict]] = []

    def register_targets(self, **kwargs):
        self.calls.append(("register", kwargs))
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "refused"}}, "RegisterTargets")

    def deregister_targets(self, **kwargs):
        self.calls.append(("deregister", kwargs))


def test_a_refused_registration_of_a_gone_instance_returns_the_error_code_and_changes_nothing():
    elbv2 = FakeElbv2("InvalidTarget")

    assert kit.register_target_once(elbv2, "arn:tg", "i-gone") == "InvalidTarget"
    assert [name for name, _ in elbv2.calls] == ["register"]


def test_an_accepted_registration_of_a_gone_instance_is_undone_at_once():
    elbv2 = FakeElbv2(None)

    assert kit.register_target_once(elbv2, "arn:tg", "i-gone") is None
    targets = {"TargetGroupArn": "arn:tg", "Targets": [{"Id": "i-gone"}]}
    assert elbv2.calls == [("register", targets), ("deregister", targets)]


def written_summary(record: ReleaseRecord, report_dir: Path) -> Path:
    """The release-summary.json the release tool writes for `record`."""
    write_reports(record, report_dir, CiContext(), io.StringIO())
    return report_dir / SUMMARY_FILE


def test_a_release_the_tool_reported_within_its_model_confirms_it(tmp_path):
    # Given the release tool's summary of a two-instance release measured at 2 min 48 s (scale-up 92 s), modelled 170 s
    summary = written_summary(scenarios.measured_release(), tmp_path)
    # When the kit reads it, for its own stack's settings
    finding = release_model_holds(kit.timed_release(summary, OVERRIDES))
    # Then the model is confirmed, with the report's own figures
    assert finding.verdict is Verdict.CONFIRMED
    assert "released in 168 s, modelled 170 s" in finding.reason and "provisioning 100 → 92 s" in finding.reason


def test_a_reported_release_slowed_by_its_scale_up_refutes_the_model_and_names_provisioning(tmp_path):
    # Given the same release whose instances took 162 s to become InService
    record = scenarios.measured_release()
    record.phases[0] = Phase("scale-up", scenarios.at(-65), scenarios.at(97))
    # When the kit reads its summary
    finding = release_model_holds(kit.timed_release(written_summary(record, tmp_path), {}))
    # Then
    assert finding.verdict is Verdict.REFUTED
    assert "released in 238 s" in finding.reason and "over the model: provisioning by 62 s" in finding.reason


def test_a_release_without_a_model_in_its_summary_leaves_the_model_unreached(tmp_path):
    # Given a summary with no model (a bootstrap first release, or a target group the tool could not read)
    record = scenarios.measured_release()
    record.model = None
    # When
    finding = release_model_holds(kit.timed_release(written_summary(record, tmp_path), {}))
    # Then
    assert finding.verdict is Verdict.NOT_REACHED
    assert "no release-time model" in finding.reason


@pytest.mark.parametrize("content", [None, "not json", '{"exitCode": 0}'])
def test_a_missing_or_foreign_summary_is_read_as_none_and_said(tmp_path, capsys, content):
    summary = tmp_path / SUMMARY_FILE
    if content is not None:
        summary.write_text(content)

    assert kit.timed_release(summary, {}) is None
    assert "U8: no release summary read" in capsys.readouterr().out


def _set(data: dict, path: tuple, value: object) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("exitCode",), float("inf")),
        (("exitCode",), True),
        (("exitCode",), -1),
        (("exitCode",), "0"),
        (("slots", "firstRelease"), "false"),
        (("model", 0, "modelledSeconds"), float("inf")),
        (("model", 0, "modelledSeconds"), 1e400),
        (("model", -1, "measuredSeconds"), float("nan")),
        (("model", -1, "measuredSeconds"), float("-inf")),
        (("model", -1, "measuredSeconds"), -5),
        (("model", -1, "measuredSeconds"), True),
        (("model", 0, "phase"), 7),
    ],
)
def test_a_summary_with_a_value_no_release_writes_is_read_as_none_not_decided(tmp_path, capsys, path, value):
    # Given the tool's own summary of a measured release with one value replaced (json writes NaN and Infinity)
    summary = written_summary(scenarios.measured_release(), tmp_path)
    data = json.loads(summary.read_text())
    _set(data, path, value)
    summary.write_text(json.dumps(data))
    # When the kit reads it, then it decides nothing from it and says why
    assert release_model_holds(kit.timed_release(summary, {})).verdict is Verdict.NOT_REACHED
    assert "U8: no release summary read" in capsys.readouterr().out


def test_a_summary_nested_deeper_than_the_parser_goes_is_read_as_none(tmp_path, capsys):
    summary = tmp_path / SUMMARY_FILE
    summary.write_text("[" * 100_000)
    assert kit.timed_release(summary, {}) is None
    assert "U8: no release summary read" in capsys.readouterr().out
