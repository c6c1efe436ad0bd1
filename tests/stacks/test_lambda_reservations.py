"""`lambdaReservedConcurrency`: by default the drain, join and deployment-group Lambdas reserve the figures of
`bluegreen.config.lambda_reservations`; set to false, none of the stack's functions reserves any (docs/decisions.md
F25: an account whose quota is below 100 + the reservations cannot deploy them)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from bluegreen.config import lambda_reservations, load_cdk_json_config
from stacks.lambda_code import handler_name
from tests.stacks.conftest import Synthesized, synthesize

pytestmark = pytest.mark.slow

HANDLERS = {"drain": handler_name("drain"), "join": handler_name("join"), "provider": handler_name("deployment_group")}


@pytest.fixture(scope="module")
def unreserved_stack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize({"lambdaReservedConcurrency": False}, tmp_path_factory.mktemp("unreserved"))


def function_by_handler(synthesized: Synthesized, handler: str) -> dict[str, Any]:
    (function,) = synthesized.template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}})
    properties: dict[str, Any] = synthesized.template.to_json()["Resources"][function]["Properties"]
    return properties


def test_by_default_each_function_reserves_the_figure_the_config_computes(default_stack: Synthesized) -> None:
    # Given the figures bluegreen.config computes for cdk.json (the pre-flight reads the same)
    expected = lambda_reservations(load_cdk_json_config())
    # Then each of the three functions reserves its figure
    reserved = {
        name: function_by_handler(default_stack, handler).get("ReservedConcurrentExecutions")
        for name, handler in HANDLERS.items()
    }
    assert reserved == {"drain": expected.drain, "join": expected.join, "provider": expected.provider}
    assert all(isinstance(value, int) and value > 0 for value in reserved.values())


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_the_setting_false_leaves_the_function_unreserved(unreserved_stack: Synthesized, function: str) -> None:
    unreserved_stack.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Handler": HANDLERS[function], "ReservedConcurrentExecutions": Match.absent()},
    )


def test_the_setting_false_leaves_no_function_of_the_stack_reserved(unreserved_stack: Synthesized) -> None:
    functions = unreserved_stack.template.find_resources("AWS::Lambda::Function")
    assert [
        name for name, function in functions.items() if "ReservedConcurrentExecutions" in function["Properties"]
    ] == []
