"""`deploy.py preflight`: the account's Lambda concurrency and the CDK bootstrap, checked before `cdk deploy`.

Every AWS answer comes from a botocore `Stubber`, which validates each request and response against the service
model; no test reaches AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from release import cli
from release.errors import ExitCode

from bluegreen.config import LAMBDA_MIN_UNRESERVED_CONCURRENCY, lambda_reservations, load_cdk_json_config
from tests.conftest import FAKE_REGION

STACK = load_cdk_json_config().stack_name
# What the stack reserves for cdk.json's settings, from the function the stack uses (14 with the defaults).
RESERVED = lambda_reservations(load_cdk_json_config()).total
VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


@dataclass
class Stubs:
    """Stubbed lambda, cloudformation and ssm clients, and the AwsClients the tool runs with."""

    lambda_: Stubber
    cloudformation: Stubber
    ssm: Stubber
    clients: cli.AwsClients

    def account(self, quota: int, unreserved: int) -> None:
        limit = {"ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": unreserved}
        self.lambda_.add_response("get_account_settings", {"AccountLimit": limit}, {})

    def no_stack(self) -> None:
        self.cloudformation.add_client_error(
            "list_stack_resources",
            service_error_code="ValidationError",
            service_message=f"Stack with id {STACK} does not exist",
            http_status_code=400,
            expected_params={"StackName": STACK},
        )

    def stack_functions(self, reserved: dict[str, int | None]) -> None:
        summaries = [
            {
                "LogicalResourceId": f"Function{index}",
                "PhysicalResourceId": name,
                "ResourceType": "AWS::Lambda::Function",
                "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
                "ResourceStatus": "UPDATE_COMPLETE",
            }
            for index, name in enumerate(reserved)
        ]
        self.cloudformation.add_response(
            "list_stack_resources", {"StackResourceSummaries": summaries}, {"StackName": STACK}
        )
        for name, value in reserved.items():
            answer = {} if value is None else {"ReservedConcurrentExecutions": value}
            self.lambda_.add_response("get_function_concurrency", answer, {"FunctionName": name})

    def bootstrap(self, version: str | None, name: str = VERSION_PARAMETER) -> None:
        if version is None:
            self.ssm.add_client_error(
                "get_parameter",
                service_error_code="ParameterNotFound",
                http_status_code=400,
                expected_params={"Name": name},
            )
            return
        parameter = {"Name": name, "Type": "String", "Value": version, "Version": 1}
        self.ssm.add_response("get_parameter", {"Parameter": parameter}, {"Name": name})


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    clients = {name: boto3.client(name, region_name=FAKE_REGION) for name in ("lambda", "cloudformation", "ssm")}
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    aws = cli.AwsClients(
        s3=None,
        autoscaling=None,
        codedeploy=None,
        cloudformation=clients["cloudformation"],
        elbv2=None,
        lambda_=clients["lambda"],
        ssm=clients["ssm"],
    )
    with stubbers["lambda"], stubbers["cloudformation"], stubbers["ssm"]:
        yield Stubs(stubbers["lambda"], stubbers["cloudformation"], stubbers["ssm"], aws)
        for stubber in stubbers.values():
            stubber.assert_no_pending_responses()


def preflight(stubs: Stubs, *args: str) -> int:
    return cli.main(["preflight", *args], env={}, clients=stubs.clients)


def test_the_default_reservations_need_100_plus_their_sum_and_the_figure_is_the_stacks() -> None:
    assert RESERVED == 15  # drain 8, join 4, deployment-group provider 2, finisher 1
    assert LAMBDA_MIN_UNRESERVED_CONCURRENCY == 100


def test_an_account_with_room_for_the_reservations_and_a_bootstrap_passes(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a quota of 1,000, nothing reserved yet, no stack yet, and bootstrap version 28
    stubs.account(quota=1000, unreserved=1000)
    stubs.no_stack()
    stubs.bootstrap("28")
    # When the pre-flight runs, Then it passes and says what it read
    assert preflight(stubs) == ExitCode.RELEASED
    out = capsys.readouterr().out
    assert "quota 1000, unreserved 1000" in out
    assert "version 28" in out
    assert "pre-flight passed" in out


def test_a_new_accounts_quota_of_10_fails_with_the_quota_the_figure_and_both_fixes(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a new account: quota 10, all of it unreserved, and a bootstrapped region
    stubs.account(quota=10, unreserved=10)
    stubs.no_stack()
    stubs.bootstrap("28")
    # When the pre-flight runs
    code = preflight(stubs)
    # Then it exits 2, naming the quota, what the stack reserves and what Lambda keeps, and both fixes
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert f"quota is 10 (10 unreserved); the stack reserves {RESERVED}" in err
    assert f"needs {100 + RESERVED} unreserved" in err
    assert "UnreservedConcurrentExecution below its minimum value" in err
    assert f"Concurrent executions, at least {100 + RESERVED}" in err
    assert '"lambdaReservedConcurrency": false' in err
    assert "-c lambdaReservedConcurrency=false" in err


def test_a_quota_one_short_fails_and_exactly_enough_passes(stubs: Stubs) -> None:
    # Given two accounts, one unit apart around 100 + the reservations
    stubs.account(quota=100 + RESERVED - 1, unreserved=100 + RESERVED - 1)
    stubs.no_stack()
    stubs.bootstrap("28")
    stubs.account(quota=100 + RESERVED, unreserved=100 + RESERVED)
    stubs.no_stack()
    stubs.bootstrap("28")
    # Then the first fails and the second passes
    assert preflight(stubs) == ExitCode.BAD_INPUT
    assert preflight(stubs) == ExitCode.RELEASED


def test_reservations_the_deployed_stack_already_holds_count_as_its_own(stubs: Stubs) -> None:
    # Given an update: the stack's four functions hold 8 + 4 + 2 + 1 already, so only 100 are left unreserved
    stubs.account(quota=100 + RESERVED, unreserved=100)
    stubs.stack_functions({"drain-fn": 8, "join-fn": 4, "provider-fn": 2, "finisher-fn": 1, "framework-fn": None})
    stubs.bootstrap("28")
    # When the pre-flight runs, Then what the stack holds is added back and it passes
    assert preflight(stubs) == ExitCode.RELEASED


def test_other_functions_reservations_leave_too_little(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a quota of 1,000 of which other functions reserve 890
    stubs.account(quota=1000, unreserved=110)
    stubs.no_stack()
    stubs.bootstrap("28")
    # Then the pre-flight fails and asks for a quota that leaves room for everything
    assert preflight(stubs) == ExitCode.BAD_INPUT
    assert f"at least {1000 + RESERVED - 10}" in capsys.readouterr().err


def test_with_the_setting_false_the_concurrency_is_not_even_read(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given lambdaReservedConcurrency false for this deploy (no Lambda call is stubbed: one would fail the test)
    stubs.bootstrap("28")
    # When the pre-flight runs with it, Then it passes whatever the quota
    assert preflight(stubs, "-c", "lambdaReservedConcurrency=false") == ExitCode.RELEASED
    assert "reserves none" in capsys.readouterr().out


def test_a_region_never_bootstrapped_fails_and_names_make_bootstrap(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    stubs.account(quota=1000, unreserved=1000)
    stubs.no_stack()
    stubs.bootstrap(None)
    assert preflight(stubs) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert f"{FAKE_REGION} is not bootstrapped (no SSM parameter {VERSION_PARAMETER})" in err
    assert "`make bootstrap`" in err


def test_a_bootstrap_older_than_the_template_accepts_fails(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    stubs.account(quota=1000, unreserved=1000)
    stubs.no_stack()
    stubs.bootstrap("5")
    assert preflight(stubs) == ExitCode.BAD_INPUT
    assert "version 5" in capsys.readouterr().err


def test_both_problems_are_reported_at_once(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    stubs.account(quota=10, unreserved=10)
    stubs.no_stack()
    stubs.bootstrap(None)
    assert preflight(stubs) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "Lambda concurrency" in err
    assert "not bootstrapped" in err


def test_a_custom_bootstrap_qualifier_is_read_from_the_context(stubs: Stubs) -> None:
    stubs.account(quota=1000, unreserved=1000)
    stubs.no_stack()
    stubs.bootstrap("28", name="/cdk-bootstrap/custom123/version")
    assert preflight(stubs, "-c", "@aws-cdk/core:bootstrapQualifier=custom123") == ExitCode.RELEASED


@pytest.mark.parametrize("args", [["-c", "lambdaReservedConcurrency"], ["-c", "lambdaReservedConcurrency=maybe"]])
def test_a_bad_context_value_is_bad_input(stubs: Stubs, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight(stubs, *args) == ExitCode.BAD_INPUT
    assert "lambdaReservedConcurrency" in capsys.readouterr().err


def test_an_unexpected_aws_error_is_not_taken_for_a_missing_bootstrap(
    stubs: Stubs, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an operator who may not read the parameter
    stubs.account(quota=1000, unreserved=1000)
    stubs.no_stack()
    stubs.ssm.add_client_error("get_parameter", service_error_code="AccessDeniedException", http_status_code=400)
    # Then the pre-flight fails as AWS refusing (exit 8, not 2: nothing is wrong with the stack's settings), naming
    # the failed read and the permissions it needs, not "not bootstrapped"
    assert preflight(stubs) == ExitCode.AWS_UNAVAILABLE
    err = capsys.readouterr().err
    assert "AccessDeniedException" in err
    assert "ssm:GetParameter" in err
    assert "not bootstrapped" not in err


def test_the_help_names_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["preflight", "--help"], env={})
    assert "Lambda concurrency" in capsys.readouterr().out


def test_an_unreachable_aws_is_exit_8_not_a_failed_check(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a Lambda endpoint that cannot be reached (a region typo resolves to a host that does not exist)
    unreachable = EndpointConnectionError(endpoint_url="https://lambda.eu-wset-1.amazonaws.com/")

    class Unreachable:
        def __getattr__(self, name: str):
            def call(*_args, **_kwargs):
                raise unreachable

            return call

    clients = cli.AwsClients(
        s3=None, autoscaling=None, codedeploy=None, cloudformation=Unreachable(), elbv2=None, lambda_=Unreachable()
    )
    # When running the pre-flight, Then it exits 8 naming the endpoint and what shows where the tool is
    assert cli.main(["preflight"], env={}, clients=clients) == ExitCode.AWS_UNAVAILABLE
    err = capsys.readouterr().err
    assert "eu-wset-1" in err and "aws configure list" in err


def test_a_mistyped_instance_type_is_refused_offline_before_any_client_is_built(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no AWS at all: building a client would be a failure of this test
    def no_clients(*_: object) -> object:
        raise AssertionError("preflight built AWS clients before checking the settings")

    monkeypatch.setattr(cli, "build_clients", no_clients)
    # When the pre-flight runs with a misspelt instance type
    code = cli.main(["preflight", "-c", "instanceType=t3.mirco"], env={})
    # Then it is exit 2 with synth's own suggestion, as `cdk synth` would refuse it
    assert code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "'instanceType': 't3.mirco' is not an EC2 instance type" in err
    assert "did you mean t3.micro?" in err
