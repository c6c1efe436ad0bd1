"""The kit's offline parts: the failing revision, the rollback rule, retained resources, assertion outputs."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError
from release.appspec import load_appspec

from integ import kit
from integ.beliefs import GROUP_ID_MARKER


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
