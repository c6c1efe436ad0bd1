"""Setting notificationsTopic: off by default, `true` creates a topic, an existing standard topic's ARN uses it."""

from __future__ import annotations

import pytest

from bluegreen.config import ConfigError, load_config

TOPIC = "arn:aws:sns:eu-west-1:123456789012:team-releases"


def test_notifications_are_off_by_default() -> None:
    assert load_config({}).notifications_topic is False


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", True), ("False", False), (False, False)])
def test_a_boolean_from_cdk_json_or_the_command_line_turns_the_created_topic_on_or_off(
    value: object, expected: bool
) -> None:
    assert load_config({"notificationsTopic": value}).notifications_topic is expected


def test_an_existing_topic_is_given_by_its_arn() -> None:
    assert load_config({"notificationsTopic": TOPIC}).notifications_topic == TOPIC


@pytest.mark.parametrize("value", ["yes", 1, f"{TOPIC}.fifo", "arn:aws:sqs:eu-west-1:123456789012:queue", ""])
def test_anything_else_is_refused_naming_what_is_allowed(value: object) -> None:
    with pytest.raises(ConfigError, match=r"notificationsTopic.*true, false or a standard SNS topic ARN"):
        load_config({"notificationsTopic": value})
