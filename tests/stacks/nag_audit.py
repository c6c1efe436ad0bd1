"""Which cdk-nag acknowledgements are used: every acknowledgement recorded in the tree, every finding cdk-nag makes.

cdk-nag 3 reads acknowledgements from CDK's construct metadata (`Validations.of(c).acknowledge`, key
`aws:cdk:acknowledged-rules`) and leaves an acknowledged finding out of its report, so the report alone cannot show
which acknowledgement is still needed. `findings` runs the same AwsSolutions rules through a pack that records every
finding before any acknowledgement is consulted. An acknowledgement covers the construct it is recorded on and
everything below it (docs/decisions.md F76); one that covers no finding of its rule is stale: it hides nothing today
and would silently hide a future drift, so the tests fail on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks, IApplyRule, NagRuleCompliance
from constructs import IConstruct

PACK = "AwsSolutions"
# CDK prefixes an acknowledged id with its namespace; older releases wrote it lower-case (cdk-nag strips either).
NAMESPACE = "annotation::"


@dataclass(frozen=True)
class Acknowledgement:
    """One acknowledgement as recorded in the tree: the id cdk-nag matches (`Rule` or `Rule[Finding]`), the reason,
    and the construct path it was recorded on."""

    rule_id: str
    reason: str
    declared_on: str

    def covers(self, finding: Finding) -> bool:
        """Whether cdk-nag would leave `finding` out of its report because of this acknowledgement."""
        return finding.rule_id == self.rule_id and f"{finding.resource_path}/".startswith(f"{self.declared_on}/")


@dataclass(frozen=True)
class Finding:
    """A finding of the AwsSolutions pack, acknowledged or not: `Rule` or `Rule[Finding]`, and the resource's path."""

    rule_id: str
    resource_path: str


def declared_acknowledgements(scope: IConstruct) -> list[Acknowledgement]:
    """Every AwsSolutions acknowledgement recorded on `scope` or below it."""
    found = []
    for construct in scope.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY or not entry.data:
                continue
            for qualified_id, reason in dict(entry.data).items():
                rule_id = qualified_id[len(NAMESPACE) :] if qualified_id.lower().startswith(NAMESPACE) else qualified_id
                if rule_id.startswith(f"{PACK}-"):
                    found.append(Acknowledgement(rule_id, str(reason), construct.node.path))
    return found


class FindingCollector(AwsSolutionsChecks):
    """The AwsSolutions pack with its rule application replaced: each rule is evaluated and its findings kept,
    acknowledged or not; nothing is reported. Every AwsSolutions rule names its suffix (`ruleSuffixOverride`)."""

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[Finding] = []

    def _apply_rule(self, params: IApplyRule) -> None:
        if not params.rule_suffix_override:
            # cdk-nag would name it after the JavaScript rule function, which jsii does not expose.
            raise RuntimeError(f"an {PACK} rule without ruleSuffixOverride ({params.info}): the audit cannot name it")
        rule_id = f"{PACK}-{params.rule_suffix_override}"
        path = params.node.node.path
        try:
            result: Any = params.rule(params.node)
        # cdk-nag reports a rule that throws (an intrinsic it cannot read) under the rule's own id.
        except Exception:
            self.findings.append(Finding(rule_id, path))
            return
        if result == NagRuleCompliance.NON_COMPLIANT:
            self.findings.append(Finding(rule_id, path))
        elif isinstance(result, list):
            self.findings.extend(Finding(f"{rule_id}[{finding}]", path) for finding in result)


def findings(scope: IConstruct) -> list[Finding]:
    """Every AwsSolutions finding on the CloudFormation resources at or below `scope`."""
    collector = FindingCollector()
    collector.validate_scope(scope)
    return collector.findings


def unacknowledged(scope: IConstruct) -> list[str]:
    """What cdk-nag reports at or below `scope` once acknowledgements are applied, as `Rule at path` lines."""
    report = AwsSolutionsChecks(verbose=True).validate_scope(scope)
    return [
        f"{violation.rule_name} at {resource.construct_path}: {violation.description}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]


def unused(acknowledgements: Sequence[Acknowledgement], found: Sequence[Finding]) -> list[str]:
    """Each acknowledgement that covers no finding, described with where it was recorded and its reason."""
    return [
        f"{ack.declared_on}: {ack.rule_id} matches nothing ({ack.reason})"
        for ack in acknowledgements
        if not any(ack.covers(finding) for finding in found)
    ]
