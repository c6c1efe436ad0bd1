"""Which cdk-nag acknowledgements are used: record each one where it is declared, collect each suppressed finding.

cdk-nag copies an acknowledgement into the metadata of every CfnResource it covers and, during the AwsSolutions
checks, reports each finding it suppressed to its loggers (`INagLogger.on_suppressed`, with the rule, the finding
and the resource). An acknowledgement whose rule and `applies_to` entries match no suppressed finding on the
resources it covers is stale: it hides nothing today and would silently hide a future drift, so the tests fail on it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsii
from aws_cdk import CfnResource
from cdk_nag import INagLogger, NagLoggerSuppressedData, NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct


@dataclass(frozen=True)
class Acknowledgement:
    """One suppression as cdk-nag received it, and the construct paths of the CfnResources it was copied to."""

    rule_id: str
    reason: str
    applies_to: tuple[str, ...]
    declared_on: str
    resource_paths: frozenset[str]


@dataclass(frozen=True)
class SuppressedFinding:
    """A finding cdk-nag reported as suppressed."""

    rule_id: str
    finding_id: str
    resource_path: str
    reason: str


def _covered_resources(construct: IConstruct, apply_to_children: bool) -> frozenset[str]:
    # cdk-nag (NagSuppressions.addResourceSuppressions): the construct, or every construct below it, each replaced by
    # its default child; only CfnResources get the metadata.
    constructs = construct.node.find_all() if apply_to_children else [construct]
    paths = set()
    for child in constructs:
        candidate = child.node.default_child or child
        if CfnResource.is_cfn_resource(candidate):
            paths.add(candidate.node.path)
    return frozenset(paths)


def _entry(value: Any) -> str:
    if isinstance(value, RegexAppliesTo):
        return f"regex:{value.regex}"
    if isinstance(value, dict) and "regex" in value:
        return f"regex:{value['regex']}"
    return str(value)


def _parts(suppression: Any) -> tuple[str, str, tuple[str, ...]]:
    """Rule, reason and applies_to as jsii delivers them: a plain dict keeps only its camelCase keys (jsii drops
    `applies_to` from a dict, docs/decisions.md F16), so a dict acknowledgement is recorded as broad as it acts."""
    if isinstance(suppression, NagPackSuppression):
        return suppression.id, suppression.reason, tuple(_entry(v) for v in suppression.applies_to or ())
    return suppression["id"], suppression["reason"], tuple(_entry(v) for v in suppression.get("appliesTo", ()))


@dataclass
class AcknowledgementRecorder:
    """Records every `NagSuppressions.add_resource_suppressions` call while installed."""

    acknowledgements: list[Acknowledgement] = field(default_factory=list)

    @contextlib.contextmanager
    def installed(self) -> Iterator[AcknowledgementRecorder]:
        original = NagSuppressions.add_resource_suppressions

        def recording(
            construct: IConstruct | Sequence[IConstruct], suppressions: Sequence[Any], apply_to_children: bool = False
        ) -> None:
            for target in construct if isinstance(construct, Sequence) else [construct]:
                paths = _covered_resources(target, bool(apply_to_children))
                for suppression in suppressions:
                    rule_id, reason, applies_to = _parts(suppression)
                    self.acknowledgements.append(Acknowledgement(rule_id, reason, applies_to, target.node.path, paths))
            original(construct, suppressions, apply_to_children)

        NagSuppressions.add_resource_suppressions = recording  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            NagSuppressions.add_resource_suppressions = original  # type: ignore[method-assign]


@jsii.implements(INagLogger)
class SuppressedFindingCollector:
    """An additional cdk-nag logger that keeps every suppressed finding (and ignores the rest)."""

    def __init__(self) -> None:
        self.findings: list[SuppressedFinding] = []

    # jsii calls back with one argument, the logger data struct (NagLoggerSuppressedData and its siblings).
    def on_suppressed(self, data: NagLoggerSuppressedData) -> None:
        self.findings.append(
            SuppressedFinding(data.rule_id, data.finding_id, data.resource.node.path, data.suppression_reason)
        )

    def on_compliance(self, data: Any) -> None:
        pass

    def on_non_compliance(self, data: Any) -> None:
        pass

    def on_error(self, data: Any) -> None:
        pass

    def on_suppressed_error(self, data: Any) -> None:
        pass

    def on_not_applicable(self, data: Any) -> None:
        pass


def _matches(entry: str, finding_id: str) -> bool:
    if entry.startswith("regex:"):
        # cdk-nag writes the pattern as a JavaScript literal, /pattern/flags.
        literal = entry.removeprefix("regex:")
        pattern, _, flags = literal[1:].rpartition("/")
        return re.search(pattern, finding_id, re.IGNORECASE if "i" in flags else 0) is not None
    return entry == finding_id


def unused(acknowledgements: Sequence[Acknowledgement], findings: Sequence[SuppressedFinding]) -> list[str]:
    """Each acknowledgement (or `applies_to` entry of one) that matches no suppressed finding on the resources it
    covers, described with where it was declared and its reason."""
    stale = []
    for ack in acknowledgements:
        relevant = [f for f in findings if f.rule_id == ack.rule_id and f.resource_path in ack.resource_paths]
        entries = ack.applies_to or ("",)
        for entry in entries:
            used = any(not entry or _matches(entry, f.finding_id) for f in relevant)
            if not used:
                scope = f" applies_to {entry}" if entry else ""
                stale.append(f"{ack.declared_on}: {ack.rule_id}{scope} matches nothing ({ack.reason})")
    return stale
