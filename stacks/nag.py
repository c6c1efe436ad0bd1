"""cdk-nag, wired one way: the AwsSolutions checks as a CDK validation plugin, and every acknowledgement of a finding.

cdk-nag 3 checks the synthesized app as a policy validation plugin (`Validations.of(app).add_plugins`) and reads its
acknowledgements from CDK's own `Validations.of(construct).acknowledge` records (docs/decisions.md F76). An
acknowledgement covers the construct it is recorded on and everything below it; a rule that reports several findings
on one resource (AwsSolutions-IAM4, AwsSolutions-IAM5) is acknowledged per finding, as `RuleId[Finding]`, and matched
by exact string (docs/decisions.md F77).

Every construct writes its acknowledgements through `acknowledge` with `Acknowledgement` values, whose fields and
arguments keep the names cdk-nag 2 used (`id`, `reason`, `applies_to`, `apply_to_children`), so a cdk-nag 2 call
converts by renaming: `NagSuppressions.add_resource_suppressions` -> `nag.acknowledge`, `NagPackSuppression` ->
`nag.Acknowledgement`. An `applies_to` entry may carry CDK tokens (`f"Resource::{bucket.arn_for_objects('*')}"`):
it is rendered the way cdk-nag renders the policy it checks, so it names exactly the ARN granted instead of a pattern.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, App, CfnResource, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


@dataclass(frozen=True)
class Acknowledgement:
    """A cdk-nag finding accepted on purpose.

    `id`: the rule, e.g. "AwsSolutions-IAM5". `reason`: why the finding is acceptable (docs/security.md lists them).
    `applies_to`: for rules that report findings, the findings accepted, each as cdk-nag names it ("Resource::*",
    "Action::s3:GetObject*", "Policy::arn:<AWS::Partition>:iam::aws:policy/...") or as a string with CDK tokens in
    it; empty for rules that report the resource as a whole.
    """

    id: str
    reason: str
    applies_to: Sequence[str] = ()


def add_checks(app: App) -> None:
    """Run cdk-nag's AwsSolutions pack over `app` at synthesis; an unacknowledged finding fails the synthesis.

    The acknowledged rules are also written to each covered resource's `cdk_nag` metadata in the template, so the
    deployed template carries its reasons (docs/decisions.md F76).
    """
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(
    construct: IConstruct, acknowledgements: Sequence[Acknowledgement], *, apply_to_children: bool = False
) -> None:
    """Record each acknowledgement on `construct`'s CloudFormation resource, or on every resource below it.

    Without `apply_to_children` only the construct's default child (or the construct itself, when it is a
    CfnResource) is covered, as in cdk-nag 2. Raises ValueError for a construct with neither, for an empty reason,
    and for a finding cdk-nag could never match (docs/decisions.md F77).
    """
    target = construct if apply_to_children else _own_resource(construct)
    stack = Stack.of(construct)
    for acknowledgement in acknowledgements:
        if not acknowledgement.reason.strip():
            raise ValueError(f"{construct.node.path}: the acknowledgement of {acknowledgement.id} needs a reason")
        for rule_id in finding_ids(stack, acknowledgement):
            Validations.of(target).acknowledge(Acknowledgment(id=rule_id, reason=acknowledgement.reason))


def finding_ids(stack: Stack, acknowledgement: Acknowledgement) -> list[str]:
    """The identifiers cdk-nag gives the acknowledged findings: the rule alone, or `Rule[Finding]` per entry."""
    if not acknowledgement.applies_to:
        return [acknowledgement.id]
    ids = []
    for entry in acknowledgement.applies_to:
        finding = render(stack.resolve(entry))
        # CDK stores an acknowledged id with its spaces turned into dashes; cdk-nag compares the original.
        if " " in finding:
            raise ValueError(f"{acknowledgement.id}[{finding}]: a finding with a space cannot be acknowledged")
        ids.append(f"{acknowledgement.id}[{finding}]")
    return ids


def render(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag's `flattenCfnReference` writes it in a finding.

    Fn::Join joins its parts, Fn::Sub's `${X}` becomes `<X>`, Ref becomes `<Name>`, Fn::GetAtt `<Name.Attribute>`,
    Fn::ImportValue its argument; anything else is its JSON text (cdk-nag 3.0.2, lib/utils/flatten-cfn-reference).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        for function, flatten in _INTRINSICS.items():
            if function in value:
                return flatten(value[function])
    return json.dumps(value, separators=(",", ":"))


def _join(arguments: Any) -> str:
    delimiter, parts = arguments
    return str(delimiter).join(render(part) for part in parts)


def _get_att(arguments: Any) -> str:
    resource, attribute = arguments
    return f"<{render(resource)}.{render(attribute)}>"


# In cdk-nag's order of precedence.
_INTRINSICS: dict[str, Callable[[Any], str]] = {
    "Fn::Join": _join,
    "Fn::Sub": render,
    "Fn::GetAtt": _get_att,
    "Fn::ImportValue": render,
    "Ref": lambda name: f"<{render(name)}>",
}


def _own_resource(construct: IConstruct) -> IConstruct:
    if CfnResource.is_cfn_resource(construct):
        return construct
    child = construct.node.default_child
    if child is None or not CfnResource.is_cfn_resource(child):
        raise ValueError(
            f"{construct.node.path} has no CloudFormation resource of its own: acknowledge on the resource, or pass "
            "apply_to_children=True to cover everything below it"
        )
    return child
