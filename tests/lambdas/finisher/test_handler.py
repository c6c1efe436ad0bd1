"""The finisher's handler at its edge: which events reach converge, what an ignored event's log line holds, and the
environment the construct must set."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from finisher.converge import Clients, Stack
from finisher.event import FIELD_CHARS
from finisher.handler import ConfigError, FunctionConfig, config_from_env, handle

from tests.lambdas.finisher.conftest import deployment_event
from tests.release.support import APP, BUCKET, GROUP, SLOT_A, SLOT_B

CONFIG = FunctionConfig(
    stack=Stack(
        application=APP,
        deployment_group=GROUP,
        bootstrap_group=None,
        slots=(SLOT_A, SLOT_B),
        bucket=BUCKET,
        target_group_arn="arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app/1",
    ),
    owner="finisher Lambda test",
)
ENVIRONMENT = {
    "APPLICATION_NAME": APP,
    "DEPLOYMENT_GROUP_NAME": GROUP,
    "SLOT_NAMES": f"{SLOT_A},{SLOT_B}",
    "ARTIFACT_BUCKET": BUCKET,
    "TARGET_GROUP_ARN": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app/1",
}


def _no_clients() -> Clients:
    raise AssertionError("converge was reached: the event should have been ignored before any AWS client")


def _handle(event: Any) -> dict[str, Any]:
    return handle(event, config=CONFIG, clients=_no_clients, now=lambda: datetime.now(UTC), request_id="req-1")


def _logged(capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any]]:
    (line,) = capsys.readouterr().out.splitlines()
    return line, json.loads(line)


@pytest.mark.parametrize("state", ["START", "READY", "CREATED", "SOMETHING_NEW"])
def test_a_deployment_event_that_is_not_an_end_is_ignored_without_touching_aws(
    state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given this group's deployment event in a state that is not SUCCESS, FAILURE or STOP
    # When the finisher is invoked with it
    answer = _handle(deployment_event("d-1", state))
    # Then it is ignored, saying why, and converge never ran (no client was built)
    assert answer["status"] == "ignored"
    assert f"deployment state '{state}' is not an end" in answer["reason"]
    assert _logged(capsys)[1]["level"] == "WARNING"


def test_an_event_nested_5000_levels_deep_is_ignored_with_a_bounded_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an event whose source is nested 5000 levels deep
    nested: Any = "x"
    for _ in range(5000):
        nested = {"a": nested}
    # When the finisher is invoked with it
    answer = _handle({"source": nested, "detail-type": "whatever"})
    # Then it is ignored and logged as one short JSON line naming only the shape of the nested field
    line, record = _logged(capsys)
    assert answer["status"] == "ignored"
    assert record["event"]["source"] == "<dict of 1 items>"
    assert len(line) < 2000


def test_a_10_mb_detail_type_is_cut_in_the_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    # Given an event whose detail-type is 10 MB long
    huge = "A" * 10_000_000
    # When the finisher is invoked with it
    _handle({"source": "aws.codedeploy", "detail-type": huge, "detail": {}})
    # Then the log line quotes at most FIELD_CHARS of it in each place, with its full length
    line, record = _logged(capsys)
    assert len(line) < 10 * FIELD_CHARS
    assert "(10000000 characters)" in record["event"]["detail-type"]
    assert "(10000000 characters)" in record["message"]


def test_the_complete_environment_is_read() -> None:
    assert config_from_env(ENVIRONMENT).stack == CONFIG.stack


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SLOT_NAMES": "a,a"}, "two different"),
        ({"SLOT_NAMES": "a"}, "two different"),
        ({"SLOT_NAMES": "a,b,c"}, "two different"),
        ({"APPLICATION_NAME": ""}, "APPLICATION_NAME is empty"),
        ({"DEPLOYMENT_GROUP_NAME": " "}, "DEPLOYMENT_GROUP_NAME is empty"),
        ({"ARTIFACT_BUCKET": ""}, "ARTIFACT_BUCKET is empty"),
        ({"TARGET_GROUP_ARN": ""}, "TARGET_GROUP_ARN is empty"),
    ],
)
def test_an_environment_that_names_nothing_or_one_slot_twice_is_a_config_error(
    change: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        config_from_env({**ENVIRONMENT, **change})


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="TARGET_GROUP_ARN is not set"):
        config_from_env({k: v for k, v in ENVIRONMENT.items() if k != "TARGET_GROUP_ARN"})
