"""Lint every IAM policy of a synthesized template with parliament, after resolving CloudFormation intrinsics.

parliament (the IAM policy linter kept by duo-labs) knows each action's resource types and their ARN formats, so it
reports a statement whose resource cannot name what the action acts on (RESOURCE_MISMATCH), an unknown action, a
malformed condition and the like. It reads plain JSON policies, so every `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`
and pseudo parameter is first replaced by a concrete, plausible value: account 123456789012, region eu-west-1,
resource names made from logical ids, and ARNs in each resource type's documented format. A reference this module
cannot resolve raises, so a new resource type is a deliberate addition here, never a silent pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from parliament import analyze_policy_string

PARTITION = "aws"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
URL_SUFFIX = "amazonaws.com"

# Ref of each resource type (CloudFormation reference, "Return values" of each type), as a function of the name
# this module gives the resource.
_REF: Mapping[str, Callable[[str], str]] = {
    "AWS::S3::Bucket": lambda name: name,
    "AWS::AutoScaling::AutoScalingGroup": lambda name: name,
    "AWS::AutoScaling::LifecycleHook": lambda name: name,
    "AWS::IAM::Role": lambda name: name,
    "AWS::IAM::InstanceProfile": lambda name: name,
    "AWS::IAM::ManagedPolicy": lambda name: f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{name}",
    "AWS::Lambda::Function": lambda name: name,
    "AWS::Logs::LogGroup": lambda name: name,
    "AWS::CloudWatch::Alarm": lambda name: name,
    "AWS::CodeDeploy::Application": lambda name: name,
    "AWS::SQS::Queue": lambda name: f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT}/{name}",
    "AWS::SNS::Topic": lambda name: f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{name}",
    "AWS::KMS::Key": lambda name: "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    "AWS::EC2::SecurityGroup": lambda name: "sg-0123456789abcdef0",
    "AWS::EC2::VPC": lambda name: "vpc-0123456789abcdef0",
    "AWS::EC2::LaunchTemplate": lambda name: "lt-0123456789abcdef0",
    "AWS::ElasticLoadBalancingV2::TargetGroup": lambda name: (
        f"arn:{PARTITION}:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{name[:32]}/0123456789abcdef"
    ),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": lambda name: (
        f"arn:{PARTITION}:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/{name[:32]}/0123456789abcdef"
    ),
}
# Fn::GetAtt of each (resource type, attribute).
_GET_ATT: Mapping[tuple[str, str], Callable[[str], str]] = {
    ("AWS::S3::Bucket", "Arn"): lambda name: f"arn:{PARTITION}:s3:::{name}",
    ("AWS::IAM::Role", "Arn"): lambda name: f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}",
    ("AWS::Lambda::Function", "Arn"): lambda name: f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}",
    ("AWS::SQS::Queue", "Arn"): lambda name: f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}",
    ("AWS::SQS::Queue", "QueueName"): lambda name: name,
    ("AWS::KMS::Key", "Arn"): lambda name: (
        f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    ),
    ("AWS::SNS::Topic", "TopicArn"): lambda name: f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{name}",
    ("AWS::Logs::LogGroup", "Arn"): lambda name: f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
    ("AWS::CloudWatch::Alarm", "Arn"): lambda name: f"arn:{PARTITION}:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupName"): lambda name: name[:32],
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupFullName"): lambda name: (
        f"targetgroup/{name[:32]}/0123456789abcdef"
    ),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerFullName"): lambda name: (
        f"app/{name[:32]}/0123456789abcdef"
    ),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "DNSName"): lambda name: f"{name.lower()}.{REGION}.elb.{URL_SUFFIX}",
    ("AWS::EC2::SecurityGroup", "GroupId"): lambda name: "sg-0123456789abcdef0",
    ("AWS::Events::Rule", "Arn"): lambda name: f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{name}",
    ("AWS::EC2::LaunchTemplate", "LatestVersionNumber"): lambda name: "1",
    ("AWS::EC2::LaunchTemplate", "DefaultVersionNumber"): lambda name: "1",
    ("AWS::EC2::VPC", "DefaultSecurityGroup"): lambda name: "sg-0fedcba9876543210",
}
_PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": URL_SUFFIX,
    "AWS::NoValue": None,
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvableError(ValueError):
    """An intrinsic or a reference this resolver has no rule for."""


class Resolver:
    """Replaces CloudFormation intrinsics in a template fragment by concrete values of one fictitious deployment."""

    def __init__(self, template: Mapping[str, Any], stack_name: str) -> None:
        self._resources: Mapping[str, Any] = template.get("Resources", {})
        self._parameters: Mapping[str, Any] = template.get("Parameters", {})
        self._stack_name = stack_name

    def name_of(self, logical_id: str) -> str:
        """The physical name CloudFormation would generate: stack name, logical id (lower case where required)."""
        kind = self._resources[logical_id]["Type"]
        name = f"{self._stack_name}-{logical_id}"
        return name.lower() if kind == "AWS::S3::Bucket" else name

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its value."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> Any:
        if name in _PSEUDO:
            return _PSEUDO[name]
        if name == "AWS::StackName":
            return self._stack_name
        if name in self._parameters:
            return f"resolved-{name}"
        kind = self._resources.get(name, {}).get("Type")
        if kind not in _REF:
            raise UnresolvableError(f"no Ref rule for {name} ({kind}); add one to tests/stacks/iam/policy_lint.py")
        return _REF[kind](self.name_of(name))

    def _get_att(self, logical_id: str, attribute: str) -> str:
        kind = self._resources.get(logical_id, {}).get("Type", "")
        if kind.startswith("Custom::"):
            return f"{self.name_of(logical_id)}-{attribute}"
        rule = _GET_ATT.get((kind, attribute))
        if rule is None:
            raise UnresolvableError(f"no Fn::GetAtt rule for {logical_id}.{attribute} ({kind})")
        return rule(self.name_of(logical_id))

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(logical_id, attribute)
        if name == "Fn::Join":
            delimiter, parts = argument
            return delimiter.join(str(self.resolve(part)) for part in self.resolve(parts))
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(delimiter)
        if name == "Fn::GetAZs":
            return [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
        raise UnresolvableError(f"no rule for {name}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved = {key: self.resolve(value) for key, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            reference = match.group(1)
            if reference in resolved:
                return str(resolved[reference])
            if "." in reference and not reference.startswith("AWS::"):
                logical_id, attribute = reference.split(".", 1)
                return self._get_att(logical_id, attribute)
            return str(self._ref(reference))

        return _SUB_VARIABLE.sub(replace, text)


@dataclass(frozen=True)
class PolicyDocument:
    """One IAM policy of a template: where it is, and its document with every intrinsic resolved."""

    location: str
    kind: str
    document: Mapping[str, Any]


def policy_documents(
    template: Mapping[str, Any], stack_name: str, paths: Mapping[str, str] | None = None
) -> Iterator[PolicyDocument]:
    """Every identity and resource policy of the template: IAM policies, roles' inline policies, managed policies,
    bucket, queue and topic policies, each located by its construct path (`paths`: logical id -> path) or logical id.

    Trust policies are left out: they name principals, not resources, and parliament checks actions on resources.
    """
    resolver = Resolver(template, stack_name)
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource["Type"]
        properties = resource.get("Properties", {})
        where = (paths or {}).get(logical_id, logical_id)
        if kind in (
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::S3::BucketPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::SNS::TopicPolicy",
        ):
            yield PolicyDocument(where, kind, resolver.resolve(properties["PolicyDocument"]))
        elif kind == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                location = f"{where}/Policies/{policy['PolicyName']}"
                yield PolicyDocument(location, kind, resolver.resolve(policy["PolicyDocument"]))


@dataclass(frozen=True)
class Finding:
    """One parliament finding on one policy."""

    location: str
    issue: str
    detail: Any

    def __str__(self) -> str:
        return f"{self.location}: {self.issue} {json.dumps(self.detail, default=str)}"


def lint(document: Mapping[str, Any], location: str = "policy") -> list[Finding]:
    """parliament's findings on one resolved policy document (its own auditors, not the community ones)."""
    policy = analyze_policy_string(json.dumps(document), include_community_auditors=False)
    return [Finding(location, finding.issue, finding.detail) for finding in policy.findings]


def lint_template(
    template: Mapping[str, Any], stack_name: str, paths: Mapping[str, str] | None = None
) -> list[Finding]:
    """parliament's findings on every statement of every policy of a synthesized template, one statement at a time
    so that each finding is located as `<policy>/Statement[<index>]` (and `/<Sid>` where the statement has one)."""
    findings = []
    for policy in policy_documents(template, stack_name, paths):
        statements = policy.document["Statement"]
        for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
            location = f"{policy.location}/Statement[{index}]" + (f"/{statement['Sid']}" if "Sid" in statement else "")
            single = {"Version": policy.document.get("Version", "2012-10-17"), "Statement": [statement]}
            findings.extend(lint(single, location))
    return findings
