"""cdk.json context is validated at once, and every bad value names the key, the value and what is allowed."""

from __future__ import annotations

import json
import re

import pytest

from bluegreen.config import (
    CDK_JSON,
    DEFAULTS,
    DRAIN_HEARTBEAT_MARGIN_SECONDS,
    DRAIN_MAX_RESERVED_CONCURRENCY,
    HEARTBEAT_RANGE_SECONDS,
    LAMBDA_ASYNC_RETRY_WAIT_SECONDS,
    MAX_DEREGISTRATION_DELAY_SECONDS,
    MIN_EVENT_AGE_SECONDS,
    SETTINGS,
    ConfigError,
    drain_reserved_concurrency,
    drain_timing,
    load_cdk_json_config,
    load_config,
)


def test_defaults_give_the_tuned_health_check_and_derived_heartbeat() -> None:
    config = load_config({})
    check = config.health_check
    assert (check.timeout_seconds, check.interval_seconds, check.unhealthy_threshold, check.healthy_threshold) == (
        2,
        5,
        2,
        2,
    )
    assert config.deregistration_delay_seconds == 30
    assert config.drain_heartbeat_seconds == drain_timing(30).heartbeat_seconds == 330


def test_cdk_json_holds_feature_flags_only_so_the_code_defaults_apply() -> None:
    # One source of defaults: SETTINGS. cdk.json keeps the CDK feature flags; a project overrides a setting by adding
    # its key there (or with -c key=value).
    context = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    assert [key for key in context if key in DEFAULTS] == []
    # CDK's flags: `@aws-cdk/...`, and `@aws-cdk-containers/...` among the recommended ones
    assert all(key.startswith("@aws-cdk") for key in context)
    assert load_cdk_json_config() == load_config({})


def readme_settings_table() -> dict[str, str]:
    """README.md's configuration table: key -> the default as written (without its backticks)."""
    readme = (CDK_JSON.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `((?:[^`\\]|\\.)*)` \|", readme, flags=re.MULTILINE)
    return {key: default.replace("\\|", "|") for key, default in rows}


def test_every_setting_is_documented_in_the_readme_with_its_default() -> None:
    documented = readme_settings_table()
    expected = {
        setting.key: setting.default if isinstance(setting.default, str) else json.dumps(setting.default)
        for setting in SETTINGS
    }
    assert documented == expected


@pytest.mark.parametrize(("fleet_maximum", "reserved"), [(1, 2), (4, 8), (10, 20), (11, 20), (1000, 20)])
def test_the_drain_reserves_two_slots_of_the_fleet_maximum_up_to_the_ceiling(fleet_maximum: int, reserved: int) -> None:
    assert drain_reserved_concurrency(fleet_maximum) == reserved
    assert reserved <= DRAIN_MAX_RESERVED_CONCURRENCY


@pytest.mark.parametrize("fleet_maximum", [0, -1, True])
def test_the_drain_reservation_needs_a_fleet_maximum_of_at_least_one(fleet_maximum: int) -> None:
    with pytest.raises(ConfigError, match="fleetMaxSize"):
        drain_reserved_concurrency(fleet_maximum)


def test_numbers_given_as_strings_on_the_command_line_are_accepted() -> None:
    assert load_config({"healthCheckIntervalSeconds": "10"}).health_check.interval_seconds == 10


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"healthCheckIntervalSeconds": 4}, "'healthCheckIntervalSeconds': 4 is out of range; allowed: 5..300"),
        ({"healthCheckIntervalSeconds": 301}, "'healthCheckIntervalSeconds': 301 is out of range"),
        ({"healthCheckTimeoutSeconds": 1}, "'healthCheckTimeoutSeconds': 1 is out of range; allowed: 2..120"),
        ({"healthCheckTimeoutSeconds": 5}, "'healthCheckTimeoutSeconds': 5 must be less than healthCheckInterval"),
        ({"healthyThresholdCount": 1}, "'healthyThresholdCount': 1 is out of range; allowed: 2..10"),
        ({"unhealthyThresholdCount": 11}, "'unhealthyThresholdCount': 11 is out of range; allowed: 2..10"),
        ({"deregistrationDelaySeconds": -1}, "'deregistrationDelaySeconds': -1 is out of range; allowed: 0..840"),
        ({"deregistrationDelaySeconds": 841}, "'deregistrationDelaySeconds': 841 is out of range; allowed: 0..840"),
        ({"deregistrationDelaySeconds": "soon"}, "'deregistrationDelaySeconds': 'soon' is not a whole number"),
        ({"deregistrationDelaySeconds": True}, "'deregistrationDelaySeconds': True is not a whole number"),
        ({"fleetMinSize": -1}, "'fleetMinSize': -1 is out of range; allowed: 0..1000"),
        ({"fleetMaxSize": 0}, "'fleetMaxSize': 0 is out of range; allowed: 1..1000"),
        ({"fleetDesiredSize": 5}, "'fleetDesiredSize': 5 is out of range; allowed: 1..4"),
        ({"fleetMinSize": 3, "fleetDesiredSize": 2}, "'fleetDesiredSize': 2 is out of range; allowed: 3..4"),
        ({"deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce"}, "is not a known deployment configuration"),
        ({"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"}, "'certificateArn': "),
        ({"appPort": 0}, "'appPort': 0 is out of range; allowed: 1..65535"),
        ({"healthCheckPath": "health"}, "'healthCheckPath': 'health' is not valid; allowed: a path starting with /"),
        ({"healthCheckMatcher": "ok"}, "'healthCheckMatcher': 'ok' is not valid"),
        ({"natGateways": 3}, "'natGateways': 3 is out of range; allowed: 1..2"),
        ({"logRetentionDays": 31}, "'logRetentionDays': 31 is not a CloudWatch Logs retention"),
        ({"stackName": "1stack"}, "'stackName': '1stack' is not valid"),
        ({"instanceType": "large"}, "'instanceType': 'large' is not valid"),
        ({"drainPollIntervalSeconds": 0}, "'drainPollIntervalSeconds': 0 is out of range; allowed: 0.2..10"),
        ({"drainPollIntervalSeconds": "soon"}, "'drainPollIntervalSeconds': 'soon' is not a number of seconds"),
        ({"drainHeartbeatTimeoutSeconds": 10}, "'drainHeartbeatTimeoutSeconds': 10 is out of range"),
        ({"drainHeartbeatTimeoutSeconds": 10800}, "'drainHeartbeatTimeoutSeconds': 10800 is out of range"),
        (
            {"deregistrationDelaySeconds": 300, "drainHeartbeatTimeoutSeconds": 320},
            "'drainHeartbeatTimeoutSeconds': 320 is out of range; allowed: 870..7200",
        ),
        ({"drainInFlightCommand": ""}, "'drainInFlightCommand': '' must be a non-empty string"),
        (
            {"drainConnectionCountCommand": "ss -Htn state established | wc -l"},
            "'drainConnectionCountCommand' was renamed 'drainInFlightCommand'",
        ),
        ({"existingVpc": {"vpcId": "vpc-1"}}, "'existingVpc.vpcId': 'vpc-1' is not valid"),
        (
            {
                "existingVpc": {
                    "vpcId": "vpc-0123456789abcdef0",
                    "availabilityZones": ["a", "b"],
                    "publicSubnetIds": ["subnet-0123456789abcdef0"],
                    "privateSubnetIds": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
                }
            },
            "'existingVpc.publicSubnetIds': 1 subnets for 2 availability zones",
        ),
    ],
)
def test_invalid_value_fails_naming_key_value_and_allowed_range(context: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(context)
    assert expected in str(error.value)


def test_existing_vpc_given_as_json_on_the_command_line_is_parsed() -> None:
    vpc = {
        "vpcId": "vpc-0123456789abcdef0",
        "availabilityZones": ["eu-west-1a", "eu-west-1b"],
        "publicSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef2"],
        "privateSubnetIds": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef3"],
    }
    config = load_config({"existingVpc": json.dumps(vpc)})
    assert config.existing_vpc is not None
    assert config.existing_vpc.private_subnet_ids == ("subnet-0123456789abcdef1", "subnet-0123456789abcdef3")


def test_the_drain_poll_interval_may_have_a_fraction() -> None:
    assert load_config({"drainPollIntervalSeconds": "0.25"}).drain_poll_interval_seconds == 0.25


@pytest.mark.parametrize("delay", [0, 1, 30, 300, MAX_DEREGISTRATION_DELAY_SECONDS])
def test_the_hook_heartbeat_outlives_the_event_age_bound_plus_the_drain_bound(delay: int) -> None:
    # Given a deregistration delay (the drain's bound), When the drain's limits are derived
    timing = drain_timing(delay)

    # Then an event delivered as late as EventBridge and Lambda allow still finds the action waiting, with the
    # whole drain and the margin ahead of it, and the heartbeat is one Auto Scaling accepts
    assert timing.event_age_bound_seconds == timing.rule_max_event_age_seconds + timing.function_max_event_age_seconds
    assert timing.heartbeat_seconds == timing.event_age_bound_seconds + delay + DRAIN_HEARTBEAT_MARGIN_SECONDS
    assert HEARTBEAT_RANGE_SECONDS[0] <= timing.heartbeat_seconds <= HEARTBEAT_RANGE_SECONDS[1]
    # ... both event ages are ones EventBridge and Lambda accept
    assert MIN_EVENT_AGE_SECONDS <= timing.rule_max_event_age_seconds <= 86_400
    assert MIN_EVENT_AGE_SECONDS <= timing.function_max_event_age_seconds <= 21_600
    # ... and the function's one retry, a minute after a first attempt that ran to its timeout, is not discarded
    assert timing.function_max_event_age_seconds > timing.function_timeout_seconds + LAMBDA_ASYNC_RETRY_WAIT_SECONDS


def test_a_heartbeat_set_by_hand_may_be_longer_than_the_derived_one_but_not_shorter() -> None:
    assert load_config({"drainHeartbeatTimeoutSeconds": 600}).drain_heartbeat_seconds == 600
    with pytest.raises(ConfigError, match=r"allowed: 330\.\.7200"):
        load_config({"drainHeartbeatTimeoutSeconds": 329})


def test_the_default_drain_check_reads_the_in_flight_count_on_the_app_port_locally() -> None:
    command = load_config({}).drain_command
    assert "{port}" in command
    assert "127.0.0.1" in command
    assert "/in-flight" in command
