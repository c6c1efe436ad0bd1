"""A context key that is no setting is refused with the nearest setting's name; CDK's and other tools' keys pass."""

from __future__ import annotations

import json

import pytest

from bluegreen.config import CDK_JSON, ConfigError, check_context_keys, load_config


def test_a_misspelt_setting_is_refused_naming_the_setting_it_resembles() -> None:
    with pytest.raises(
        ConfigError, match=r"'healthCheckIntervalSecond' is not a setting; did you mean healthCheckIntervalSeconds\?"
    ):
        load_config({"healthCheckIntervalSecond": 5})


def test_a_setting_written_with_the_wrong_case_gets_its_right_spelling_suggested() -> None:
    with pytest.raises(ConfigError, match=r"'InstanceType' is not a setting; did you mean instanceType\?"):
        load_config({"InstanceType": "t3.small"})


def test_every_unknown_key_is_named_in_one_message() -> None:
    # Given two typos and a key that resembles nothing
    with pytest.raises(ConfigError) as refused:
        load_config({"fleetMaxsize": 3, "appPrt": 8080, "colour": "blue"})
    # Then one message names all three, so one edit fixes cdk.json
    message = str(refused.value)
    assert "'fleetMaxsize' is not a setting; did you mean fleetMaxSize?" in message
    assert "'appPrt' is not a setting; did you mean appPort?" in message
    assert "'colour' is not a setting (" in message


@pytest.mark.parametrize(
    "key",
    [
        "@aws-cdk/aws-iam:minimizePolicies",  # a feature flag
        "@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver",  # a recommended flag of another module
        "aws:cdk:enable-path-metadata",  # added by the CDK CLI on every synth
        "@aws-cdk/core:failSynthOnValidationErrors",  # added by the CDK CLI on every synth
        "availability-zones:account=123456789012:region=eu-west-1",  # a lookup cached in cdk.context.json
        "acknowledged-issue-numbers",  # written to cdk.json by `cdk acknowledge`
        "myteam:costCentre",  # a key of the operator's own, namespaced
        "stage/prod",
    ],
)
def test_keys_with_a_namespace_and_the_clis_own_keys_are_not_judged(key: str) -> None:
    check_context_keys({key: "anything"})


def test_the_projects_cdk_json_passes_the_check() -> None:
    check_context_keys(json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"])


def test_a_renamed_setting_is_still_refused_with_its_new_name_not_as_unknown() -> None:
    with pytest.raises(ConfigError, match="renamed 'drainInFlightCommand'"):
        load_config({"drainConnectionCountCommand": "ss -Htn | wc -l"})
