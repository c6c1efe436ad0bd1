"""No dict is passed where a jsii struct is expected in `stacks/` (docs/decisions.md F16).

jsii sends a Python dict to JavaScript with its keys as written, so `Arn.format({"resource_name": ...}, stack)` loses
every snake_case key without an error, and so does a suppression written as `{"applies_to": [...]}`. The guard reads
the source: a dict display, dict comprehension or `dict(...)` call anywhere inside a call's argument is an error,
except under the few parameters that really take a mapping (ALLOWED).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STACKS = Path(__file__).resolve().parents[2] / "stacks"

# Parameters whose value is a mapping by design, never a struct. JSON: the whole value is free-form data.
# MAPPING_OF_STRUCTS: the keys are free, but each value is a struct and is checked.
JSON_PARAMETERS = {
    "environment": "lambda.Function: environment variables, Mapping[str, str]",
    "conditions": "iam.PolicyStatement: the IAM condition block, Mapping[str, Any]",
    "detail": "events.EventPattern: the event pattern's detail, Mapping[str, Any]",
    "properties": "CustomResource / CfnResource: CloudFormation properties, Mapping[str, Any]",
    "resource_properties": "CfnCustomResource-like constructs: CloudFormation properties, Mapping[str, Any]",
    "tags": "resource tags, Mapping[str, str]",
    "dimensions_map": "cloudwatch.Metric: the metric's dimensions, Mapping[str, str]",
    "dimensions": "logs.MetricFilter: dimension name -> JSON selector, Mapping[str, str]",
    "ami_map": "ec2.MachineImage.generic_linux: region -> AMI id, Mapping[str, str]",
}
MAPPING_OF_STRUCTS = {
    "flow_logs": "ec2.Vpc: Mapping[str, FlowLogOptions]",
}


def _is_dict(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict | ast.DictComp) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"
    )


def _dicts_in(node: ast.AST) -> list[ast.AST]:
    """Dicts inside an argument value, not descending into nested calls (each call is checked on its own)."""
    if _is_dict(node):
        return [node]
    if isinstance(node, ast.Call):
        return []
    return [found for child in ast.iter_child_nodes(node) for found in _dicts_in(child)]


def _callee_name(func: ast.expr) -> str | None:
    """`f` for `f(...)`, `self.f(...)` and `cls.f(...)`; None for anything else (a call on an imported name)."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
        return func.attr
    return None


def dicts_passed_as_arguments(source: str, filename: str = "<source>") -> list[str]:
    """`file:line: call(...)` for every dict passed (directly, or inside a list or tuple) as a call argument."""
    tree = ast.parse(source, filename)
    # Functions and methods defined in the module are plain Python: a dict handed to them crosses no jsii boundary.
    local = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    problems = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or _callee_name(call.func) in local:
            continue
        arguments: list[tuple[str | None, ast.AST]] = [(None, arg) for arg in call.args]
        # `**mapping` unpacks into keyword arguments: each key becomes a parameter, nothing is sent as a dict.
        arguments += [(keyword.arg, keyword.value) for keyword in call.keywords if keyword.arg is not None]
        for name, value in arguments:
            if name in JSON_PARAMETERS:
                continue
            if name in MAPPING_OF_STRUCTS and isinstance(value, ast.Dict):
                candidates = [found for item in value.values for found in _dicts_in(item)]
            else:
                candidates = _dicts_in(value)
            for found in candidates:
                where = f"{name}=" if name else "a positional argument"
                problems.append(f"{filename}:{found.lineno}: dict as {where} of {ast.unparse(call.func)}(...)")
    return problems


@pytest.mark.parametrize("path", [path.name for path in sorted(STACKS.glob("*.py"))])
def test_no_dict_is_passed_where_a_struct_is_expected(path: str) -> None:
    # Given a module of stacks/, When its calls are read, Then no argument is a dict outside the allowed parameters
    source = (STACKS / path).read_text(encoding="utf-8")
    assert dicts_passed_as_arguments(source, f"stacks/{path}") == []


def test_the_guard_flags_arn_format_with_a_dict() -> None:
    source = 'arn = Arn.format({"service": "codedeploy", "resource_name": "app/*"}, stack)\n'
    assert dicts_passed_as_arguments(source) == ["<source>:1: dict as a positional argument of Arn.format(...)"]


def test_the_guard_flags_an_acknowledgement_written_as_a_dict_inside_a_list() -> None:
    source = 'nag.acknowledge(role, [{"id": "X", "reason": "r", "applies_to": ["a"]}])\n'
    assert dicts_passed_as_arguments(source) == ["<source>:1: dict as a positional argument of nag.acknowledge(...)"]


def test_the_guard_flags_dict_calls_and_struct_values_of_a_mapping_parameter() -> None:
    source = (
        "ec2.Vpc(self, 'Vpc', flow_logs={'rejected': {'destination': d}})\n"
        "stack.format_arn(**dict(service='s3'))\n"
        "x = f(options=dict(a=1))\n"
    )
    assert dicts_passed_as_arguments(source) == [
        "<source>:1: dict as flow_logs= of ec2.Vpc(...)",
        "<source>:3: dict as options= of f(...)",
    ]


def test_the_guard_accepts_struct_classes_keywords_and_mapping_parameters() -> None:
    source = (
        "def _group(name, properties): ...\n"
        "self._group('G', {'DeploymentType': 'BLUE_GREEN'})\n"
        "stack.format_arn(service='codedeploy', resource='deploymentgroup', resource_name='app/*')\n"
        "nag.acknowledge(role, [nag.Acknowledgement(id='X', reason='r')])\n"
        "iam.PolicyStatement(actions=['a'], conditions={'StringEquals': {'k': ['v']}})\n"
        "lambda_.Function(self, 'F', environment={'A': 'b'})\n"
        "ec2.Vpc(self, 'Vpc', flow_logs={'rejected': ec2.FlowLogOptions(destination=d)})\n"
    )
    assert dicts_passed_as_arguments(source) == []
