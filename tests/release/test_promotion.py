"""Promote, don't rebuild (release.promotion): the revision an earlier stage released successfully, found from AWS,
copied to the later stage's bucket under the same key (moto S3, one region and across regions), released there; and
`--stage NAME` / `status --all-stages` (release.targets, release.cli)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from release import cli, promotion
from release.errors import ExitCode, InputError, UploadError
from release.operations import previous_revision
from release.runtime import Runtime
from release.targets import Targets
from release.tree import scan_revision
from release.upload import publish_revision

from bluegreen import bake
from bluegreen.config import FleetSize, lambda_reservations, load_config
from tests.release import scenarios
from tests.release.fakes import FakeCodeDeploy
from tests.release.support import APP, BUCKET, GROUP, REGION, SLOT_A, SLOT_B, World, write_revision
from tests.release.test_cli import _clients as world_clients
from tests.release.test_preflight import Stubs, stubs  # noqa: F401 - the fixture

STAGING_APP, STAGING_GROUP = "staging-app", "BlueGreenApp-staging-blue-green"
STAGING_BUCKET_EU = "staging-artifacts-eu"
STAGING_BUCKET_US = "staging-artifacts-us"
STAGES = [
    {"name": "staging", "region": "us-east-1"},
    {"name": "staging-eu", "region": REGION},
    {"name": "production", "region": REGION},
]


def versioned_bucket(region: str, name: str) -> Any:
    s3 = boto3.client("s3", region_name=region)
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **where)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def staging_targets(bucket: str) -> Targets:
    return Targets(
        bucket=bucket,
        application=STAGING_APP,
        deployment_group=STAGING_GROUP,
        slots=("staging-a", "staging-b"),
        fleet=FleetSize(1, 1, 2),
    )


def staging_codedeploy() -> FakeCodeDeploy:
    return FakeCodeDeploy(STAGING_APP, STAGING_GROUP, "staging-a")


def released_in_staging(s3: Any, bucket: str, tmp_path: Path) -> tuple[FakeCodeDeploy, dict[str, Any]]:
    """A revision uploaded by the release tool to the staging bucket and released there successfully."""
    uploaded = publish_revision(
        s3, scan_revision(write_revision(tmp_path / "revision")), bucket=bucket, application=STAGING_APP
    )
    codedeploy = staging_codedeploy()
    deployment = codedeploy.add_deployment(status="Succeeded", revision_key=uploaded.key, minutes_ago=30)
    codedeploy.deployments[deployment]["revision"] = uploaded.to_codedeploy()
    return codedeploy, uploaded.to_codedeploy()["s3Location"]


# --- which revision ---------------------------------------------------------------------------------------------


def test_the_revision_promoted_is_the_one_the_earlier_stage_last_released_successfully() -> None:
    # Given staging released r1, then r2, then failed with r3
    codedeploy = staging_codedeploy()
    codedeploy.add_deployment(status="Succeeded", revision_key="r1.zip", minutes_ago=90)
    second = codedeploy.add_deployment(status="Succeeded", revision_key="r2.zip", minutes_ago=60)
    codedeploy.add_deployment(status="Failed", revision_key="r3.zip", minutes_ago=30)
    # When asking what staging released
    released = promotion.released_revision(codedeploy, staging_targets("b"), "staging")
    # Then it is r2, the last success, pinned as CodeDeploy recorded it
    assert (released.deployment_id, released.key) == (second, "r2.zip")
    assert released.location["eTag"] == "e"


def test_a_stage_that_never_released_successfully_has_nothing_to_promote() -> None:
    codedeploy = staging_codedeploy()
    codedeploy.add_deployment(status="Failed", revision_key="r1.zip")
    with pytest.raises(promotion.PromotionRefused, match=r"stage 'staging' .* has no successful release") as refused:
        promotion.released_revision(codedeploy, staging_targets("b"), "staging")
    assert refused.value.exit_code == ExitCode.BAD_INPUT


@pytest.mark.parametrize("status", ["Failed", "Stopped", "InProgress", "Ready"])
def test_a_deployment_that_did_not_succeed_in_the_earlier_stage_is_refused(status: str) -> None:
    codedeploy = staging_codedeploy()
    codedeploy.add_deployment(status="Succeeded", revision_key="good.zip", minutes_ago=90)
    chosen = codedeploy.add_deployment(status=status, revision_key="bad.zip")
    with pytest.raises(promotion.PromotionRefused, match=f"deployment {chosen} of stage 'staging' is {status}"):
        promotion.released_revision(codedeploy, staging_targets("b"), "staging", chosen)


def test_a_deployment_of_another_group_is_refused_even_if_it_succeeded() -> None:
    other = FakeCodeDeploy("other-app", "other-group", "x")
    chosen = other.add_deployment(status="Succeeded", revision_key="r.zip")
    with pytest.raises(promotion.PromotionRefused, match="is of other-app/other-group, not of stage 'staging'"):
        promotion.released_revision(other, staging_targets("b"), "staging", chosen)


# --- the copy --------------------------------------------------------------------------------------------------


def test_in_one_region_the_revision_is_copied_server_side_under_the_same_key(aws: None, tmp_path: Path) -> None:
    # Given a revision released in staging from its bucket, and production's bucket in the same region
    source = versioned_bucket(REGION, STAGING_BUCKET_EU)
    target = versioned_bucket(REGION, BUCKET)
    codedeploy, location = released_in_staging(source, STAGING_BUCKET_EU, tmp_path)
    released = promotion.released_revision(codedeploy, staging_targets(STAGING_BUCKET_EU), "staging")
    # When copying it to production with the same credentials
    copied = promotion.RevisionCopier(source, target, same_credentials_and_region=True).copy(released, BUCKET)
    # Then production's bucket holds the same bytes and metadata under the same key, copied by S3 itself
    assert copied.how == promotion.SERVER_SIDE
    original = source.get_object(Bucket=STAGING_BUCKET_EU, Key=location["key"])
    copy = target.get_object(Bucket=BUCKET, Key=location["key"])
    assert copy["Body"].read() == original["Body"].read()
    assert copy["Metadata"] == original["Metadata"] and copy["Metadata"]["content-sha256"]
    # And the revision to deploy is pinned to production's object, by its own ETag and version
    head = target.head_object(Bucket=BUCKET, Key=location["key"])
    assert copied.revision.to_codedeploy()["s3Location"] == {
        "bucket": BUCKET,
        "key": location["key"],
        "bundleType": "zip",
        "eTag": head["ETag"].strip('"'),
        "version": head["VersionId"],
    }


def test_across_regions_the_revision_is_streamed_through_the_tool(aws: None, tmp_path: Path) -> None:
    # Given staging in us-east-1 and production in eu-west-1
    source = versioned_bucket("us-east-1", STAGING_BUCKET_US)
    target = versioned_bucket(REGION, BUCKET)
    codedeploy, location = released_in_staging(source, STAGING_BUCKET_US, tmp_path)
    released = promotion.released_revision(codedeploy, staging_targets(STAGING_BUCKET_US), "staging")
    # When copying it to production
    copied = promotion.RevisionCopier(source, target, same_credentials_and_region=False).copy(released, BUCKET)
    # Then production's bucket, in production's region, holds the same bytes under the same key
    assert copied.how == promotion.THROUGH_TOOL
    assert target.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == REGION
    original = source.get_object(Bucket=STAGING_BUCKET_US, Key=location["key"], VersionId=location["version"])
    assert target.get_object(Bucket=BUCKET, Key=location["key"])["Body"].read() == original["Body"].read()
    assert copied.revision.bucket == BUCKET and copied.revision.version_id


def test_a_revision_already_in_the_later_stages_bucket_is_not_copied_again(aws: None, tmp_path: Path) -> None:
    source = versioned_bucket(REGION, STAGING_BUCKET_EU)
    target = versioned_bucket(REGION, BUCKET)
    codedeploy, location = released_in_staging(source, STAGING_BUCKET_EU, tmp_path)
    released = promotion.released_revision(codedeploy, staging_targets(STAGING_BUCKET_EU), "staging")
    copier = promotion.RevisionCopier(source, target, same_credentials_and_region=True)
    first = copier.copy(released, BUCKET)
    # When promoting the same revision a second time
    second = copier.copy(released, BUCKET)
    # Then the object is reused: still one version under the key, the same pin
    assert second.how == promotion.ALREADY_THERE
    versions = target.list_object_versions(Bucket=BUCKET, Prefix=location["key"])["Versions"]
    assert len(versions) == 1
    assert second.revision.version_id == first.revision.version_id


def test_stages_sharing_one_bucket_deploy_the_very_object_without_a_copy(aws: None, tmp_path: Path) -> None:
    source = versioned_bucket(REGION, STAGING_BUCKET_EU)
    codedeploy, location = released_in_staging(source, STAGING_BUCKET_EU, tmp_path)
    released = promotion.released_revision(codedeploy, staging_targets(STAGING_BUCKET_EU), "staging")
    copied = promotion.RevisionCopier(source, source, same_credentials_and_region=True).copy(
        released, STAGING_BUCKET_EU
    )
    assert copied.how == promotion.SAME_BUCKET
    assert copied.revision.to_codedeploy()["s3Location"] == location


def test_a_revision_overwritten_since_the_earlier_stage_deployed_it_is_refused(aws: None, tmp_path: Path) -> None:
    # Given staging's revision pinned by ETag only (an unversioned bucket), then overwritten with other bytes
    source = boto3.client("s3", region_name=REGION)
    source.create_bucket(Bucket=STAGING_BUCKET_EU, CreateBucketConfiguration={"LocationConstraint": REGION})
    target = versioned_bucket(REGION, BUCKET)
    codedeploy, location = released_in_staging(source, STAGING_BUCKET_EU, tmp_path)
    source.put_object(Bucket=STAGING_BUCKET_EU, Key=location["key"], Body=b"something else")
    released = promotion.released_revision(codedeploy, staging_targets(STAGING_BUCKET_EU), "staging")
    # When promoting, the copy is refused and production's bucket stays empty
    with pytest.raises(UploadError, match="no longer the object the earlier stage deployed"):
        promotion.RevisionCopier(source, target, same_credentials_and_region=True).copy(released, BUCKET)
    assert "Contents" not in target.list_objects_v2(Bucket=BUCKET)


# --- through the command line ----------------------------------------------------------------------------------


def stack_template(bucket: str, application: str, group: str, slots: tuple[str, str]) -> str:
    values = {
        "ArtifactBucketName": bucket,
        "ApplicationName": application,
        "DeploymentGroupName": group,
        "SlotAName": slots[0],
        "SlotBName": slots[1],
        "FleetMinSize": "1",
        "FleetDesiredSize": "2",
        "FleetMaxSize": "4",
    }
    return json.dumps(
        {
            "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in values.items()},
        }
    )


@pytest.fixture
def declared_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """cdk.json as the tool reads it, with STAGES declared."""
    monkeypatch.setattr("release.targets.load_cdk_json_context", lambda: {"stages": STAGES})


def production_clients(world: World, codedeploy: FakeCodeDeploy) -> cli.AwsClients:
    world.cloudformation.create_stack(
        StackName="BlueGreenApp-production", TemplateBody=stack_template(BUCKET, APP, GROUP, (SLOT_A, SLOT_B))
    )
    return world_clients(world, codedeploy)


def staging_clients(s3: Any, codedeploy: FakeCodeDeploy, bucket: str) -> cli.AwsClients:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName="BlueGreenApp-staging",
        TemplateBody=stack_template(bucket, STAGING_APP, STAGING_GROUP, ("staging-a", "staging-b")),
    )
    return cli.AwsClients(s3=s3, autoscaling=None, codedeploy=codedeploy, cloudformation=cloudformation, elbv2=None)


def test_promote_revision_releases_stagings_revision_into_production_in_another_region(
    world: World, declared_stages: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    # Given staging (us-east-1) released a revision successfully, and production (eu-west-1) runs slot A
    source_s3 = versioned_bucket("us-east-1", STAGING_BUCKET_US)
    staging, location = released_in_staging(source_s3, STAGING_BUCKET_US, tmp_path)
    built: list[str | None] = []

    def build_clients(settings: cli.AwsSettings) -> cli.AwsClients:
        built.append(settings.region)
        return staging_clients(source_s3, staging, STAGING_BUCKET_US)

    monkeypatch.setattr(cli, "build_clients", build_clients)
    world.scale(SLOT_A, 2)
    production = world.codedeploy(SLOT_A, scenarios.success())
    # When promoting staging's revision to production
    argv = ["promote-revision", "--from-stage", "staging", "--stage", "production", "--plain"]
    code = cli.main(
        [*argv, "--report-dir", str(tmp_path / "report")],
        env={},
        clients=production_clients(world, production),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )
    # Then production released it: one deployment of the same key, from production's bucket, pinned there
    assert code == ExitCode.RELEASED, capsys.readouterr().err
    assert built == ["us-east-1"]
    (created,) = production.called("create_deployment")
    s3_location = created["revision"]["s3Location"]
    head = world.s3.head_object(Bucket=BUCKET, Key=location["key"])
    assert (s3_location["bucket"], s3_location["key"]) == (BUCKET, location["key"])
    assert (s3_location["eTag"], s3_location["version"]) == (head["ETag"].strip('"'), head["VersionId"])
    # And the run says where the revision came from and how it was copied
    assert promotion.THROUGH_TOOL in capsys.readouterr().out


def test_promote_revision_refuses_a_failed_deployment_and_copies_nothing(
    world: World, declared_stages: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    source_s3 = versioned_bucket("us-east-1", STAGING_BUCKET_US)
    staging, _ = released_in_staging(source_s3, STAGING_BUCKET_US, tmp_path)
    failed = staging.add_deployment(status="Failed", revision_key="broken.zip", minutes_ago=5)
    monkeypatch.setattr(cli, "build_clients", lambda _: staging_clients(source_s3, staging, STAGING_BUCKET_US))
    production = world.codedeploy(SLOT_A)
    code = cli.main(
        ["promote-revision", "--from-stage", "staging", "--stage", "production", "--from-deployment", failed],
        env={},
        clients=production_clients(world, production),
    )
    assert code == ExitCode.BAD_INPUT
    assert f"deployment {failed} of stage 'staging' is Failed" in capsys.readouterr().err
    assert world.objects() == [] and production.called("create_deployment") == []


def test_a_stage_selects_its_stack_and_its_region(declared_stages: None) -> None:
    args = cli.build_parser().parse_args(["status", "--stage", "staging"])
    invocation = cli.invocation_from(args, {"AWS_REGION": REGION})
    assert (invocation.targets.stack_name, invocation.aws.region) == ("BlueGreenApp-staging", "us-east-1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stage", "stagin"], "stage 'stagin' is not declared; declared: staging, staging-eu, production"),
        (["--stage", "staging", "--stack", "Other"], "names 'Other'"),
        (["--stage", "staging", "--region", REGION], f"is in us-east-1, but --region names {REGION}"),
    ],
)
def test_a_stage_that_is_unknown_or_contradicted_is_refused_with_exit_2(
    declared_stages: None, argv: list[str], message: str, capsys: Any
) -> None:
    assert cli.main(["status", *argv], env={}) == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err


def test_status_all_stages_shows_what_each_stage_runs_and_since_when(
    world: World, declared_stages: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    # Given staging (us-east-1) running a revision, production deployed but never released, staging-eu not deployed
    source_s3 = versioned_bucket("us-east-1", STAGING_BUCKET_US)
    staging, location = released_in_staging(source_s3, STAGING_BUCKET_US, tmp_path)
    live = staging.last_successful
    assert live is not None
    staging.deployments[live]["completeTime"] = world.clock.now()
    readers = {"us-east-1": staging_clients(source_s3, staging, STAGING_BUCKET_US)}
    monkeypatch.setattr(cli, "build_clients", lambda settings: readers[settings.region])
    production = world.codedeploy(SLOT_A)
    # When asking for every stage's status as JSON (the command's own clients are production's, in eu-west-1)
    code = cli.main(
        ["status", "--all-stages", "--json"], env={"AWS_REGION": REGION}, clients=production_clients(world, production)
    )
    # Then each stage has its line: the live revision and since when, or why there is none
    assert code == ExitCode.RELEASED
    stages = {item["stage"]: item for item in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["staging"]["revision"]["key"] == location["key"]
    assert stages["staging"]["since"] == world.clock.now().isoformat()
    assert stages["production"]["problem"] == "nothing released yet"
    assert "BlueGreenApp-staging-eu" in stages["staging-eu"]["problem"]


def test_promote_revision_without_a_stage_to_release_to_exits_2(declared_stages: None, capsys: Any) -> None:
    assert cli.main(["promote-revision", "--from-stage", "staging"], env={}) == ExitCode.BAD_INPUT
    assert "promote-revision needs the stage to release to" in capsys.readouterr().err


def test_a_stage_in_the_ci_environment_does_not_reach_commands_without_targets(
    declared_stages: None, tmp_path: Path
) -> None:
    # Given RELEASE_STAGE naming no declared stage, set for the whole CI job
    args = cli.build_parser().parse_args(["bundle", "--app-dir", str(write_revision(tmp_path))])
    # Then `bundle`, which has no targets, ignores it
    assert cli.invocation_from(args, {"RELEASE_STAGE": "nowhere"}).stages.stage is None


def test_status_all_stages_prints_one_line_per_stage() -> None:
    live = promotion.StageRevision(
        stage="staging",
        deployment_id="d-000000001",
        location={"bucket": "b", "key": "revisions/app/abc.zip", "version": "v1"},
        since=None,
    )
    out = io.StringIO()
    promotion.write_stage_statuses(
        [
            promotion.StageStatus("staging", "BlueGreenApp-staging", "us-east-1", live=live),
            promotion.StageStatus("production", "BlueGreenApp-production", REGION, problem="nothing released yet"),
        ],
        out,
    )
    first, second = out.getvalue().splitlines()
    assert first.split()[:3] == ["staging", "BlueGreenApp-staging", "us-east-1"]
    assert "revisions/app/abc.zip (version v1) since unknown (d-000000001)" in first
    assert second.split()[:3] == ["production", "BlueGreenApp-production", REGION]
    assert second.endswith("nothing released yet")


# --- waves -----------------------------------------------------------------------------------------------------


def test_a_failing_stage_stops_the_rest_of_its_wave_and_every_later_wave() -> None:
    # Given three waves, the second stage of the first wave failing
    codes = {"eu": 0, "us": 1, "ap": 0, "sa": 0}
    released: list[str] = []

    def release_stage(name: str) -> int:
        released.append(name)
        return codes[name]

    outcomes = promotion.run_waves([["eu", "us"], ["ap"], ["sa"]], release_stage)
    # Then nothing is released after the failure, and the outcome still names every stage of every wave
    assert released == ["eu", "us"]
    assert [(o.wave, o.stage, o.exit_code) for o in outcomes] == [
        (1, "eu", 0),
        (1, "us", 1),
        (2, "ap", None),
        (3, "sa", None),
    ]
    assert promotion.waves_exit_code(outcomes) == 1


def test_waves_that_all_release_run_every_stage_in_order_and_exit_0() -> None:
    released: list[str] = []
    outcomes = promotion.run_waves([["eu"], ["us", "ap"]], lambda name: released.append(name) or 0)
    assert released == ["eu", "us", "ap"]
    assert promotion.waves_exit_code(outcomes) == 0


@pytest.mark.parametrize(
    ("values", "message"), [(["eu", ""], "needs at least one stage"), (["eu,us", "us"], "stage us is in more than one")]
)
def test_waves_with_an_empty_wave_or_a_stage_twice_are_refused(values: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        promotion.parse_waves(values)


WAVE_STAGES = [
    {"name": "staging", "region": REGION},
    {"name": "production-eu", "region": REGION},
    {"name": "production-us", "region": "us-east-1"},
    {"name": "production-ap", "region": "ap-southeast-2"},
]


def test_promote_waves_releases_each_stage_in_its_region_and_reports_every_wave(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    # Given three production stages in three regions, the us-east-1 one failing its release
    monkeypatch.setattr("release.targets.load_cdk_json_context", lambda: {"stages": WAVE_STAGES})
    monkeypatch.setattr(cli, "build_clients", lambda settings: f"clients of {settings.region}")
    seen: list[tuple[str | None, str | None, str | None, Path, Any]] = []

    def promote(invocation: cli.Invocation, clients: Any, runtime: Any) -> int:
        seen.append(
            (
                invocation.stages.stage,
                invocation.targets.stack_name,
                invocation.aws.region,
                invocation.release.report_dir,
                clients,
            )
        )
        return 1 if invocation.stages.stage == "production-us" else 0

    monkeypatch.setattr(cli, "_cmd_promote_revision", promote)
    own = cli.AwsClients(s3=None, autoscaling=None, codedeploy=None, cloudformation=None, elbv2=None)
    # When promoting staging's revision in two waves
    argv = [
        "promote-waves",
        "--from-stage",
        "staging",
        "--wave",
        "production-eu",
        "--wave",
        "production-us,production-ap",
    ]
    code = cli.main([*argv, "--report-dir", str(tmp_path)], env={"AWS_REGION": REGION}, clients=own)
    # Then each released stage got its stack, region, clients and report directory, and the failure stopped the rest
    assert code == ExitCode.DEPLOYMENT_FAILED
    assert seen == [
        ("production-eu", "BlueGreenApp-production-eu", REGION, tmp_path / "production-eu", own),
        (
            "production-us",
            "BlueGreenApp-production-us",
            "us-east-1",
            tmp_path / "production-us",
            "clients of us-east-1",
        ),
    ]
    summary = json.loads((tmp_path / "waves-summary.json").read_text())
    assert summary == {
        "exitCode": 1,
        "stages": [
            {"wave": 1, "stage": "production-eu", "exitCode": 0, "outcome": "released"},
            {"wave": 2, "stage": "production-us", "exitCode": 1, "outcome": "not released (exit 1)"},
            {"wave": 2, "stage": "production-ap", "exitCode": None, "outcome": "skipped"},
        ],
    }
    assert "production-ap" in capsys.readouterr().out


def test_promote_waves_with_an_undeclared_stage_releases_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    monkeypatch.setattr("release.targets.load_cdk_json_context", lambda: {"stages": WAVE_STAGES})
    monkeypatch.setattr(cli, "_cmd_promote_revision", lambda *_: pytest.fail("nothing may be released"))
    own = cli.AwsClients(s3=None, autoscaling=None, codedeploy=None, cloudformation=None, elbv2=None)
    argv = ["promote-waves", "--from-stage", "staging", "--wave", "production-eu", "--wave", "production-mars"]
    assert cli.main(argv, env={"AWS_REGION": REGION}, clients=own) == ExitCode.BAD_INPUT
    assert "stage 'production-mars' is not declared" in capsys.readouterr().err


def test_preflight_of_a_stage_checks_that_stages_stack_with_its_own_settings(
    stubs: Stubs,  # noqa: F811 - test_preflight's fixture
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    # Given a production stage whose larger fleet reserves more Lambda concurrency than the top-level settings
    stages = [{"name": "production", "region": REGION, "fleetMaxSize": 10}]
    monkeypatch.setattr("release.targets.load_cdk_json_context", lambda: {"stages": stages})
    monkeypatch.setattr(cli, "load_cdk_json_context", lambda: {"stages": stages})
    reserved = lambda_reservations(load_config({"fleetMaxSize": 10})).total
    assert reserved > lambda_reservations(load_config({})).total
    # And an account one short of what that stage needs, where the stage's stack does not exist yet
    stubs.account(quota=100 + reserved - 1, unreserved=100 + reserved - 1)
    stubs.cloudformation.add_client_error(
        "list_stack_resources",
        service_error_code="ValidationError",
        service_message="Stack with id BlueGreenApp-production does not exist",
        http_status_code=400,
        expected_params={"StackName": "BlueGreenApp-production"},
    )
    stubs.bootstrap("28")
    # When the pre-flight runs for that stage, Then it refuses with the stage's own figure
    assert cli.main(["preflight", "--stage", "production"], env={}, clients=stubs.clients) == ExitCode.BAD_INPUT
    assert f"the stack reserves {reserved}" in capsys.readouterr().err


# --- a release a bake window rolled back ------------------------------------------------------------------------


def rolled_back_window(s3: Any, bucket: str, deployment_id: str) -> None:
    """The staging group's bake-window record after a fast rollback of `deployment_id` (release.bake)."""
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    window = bake.Window(
        release_id="r1",
        deployment_id=deployment_id,
        old_slot="staging-a",
        new_slot="staging-b",
        opened=now,
        deadline=now + timedelta(minutes=30),
    ).with_state(bake.ROLLED_BACK, reason=f"alarm {'Target5xx'} went to ALARM", by="release r1", at=now)
    bake.open_window(s3, bucket, bake.window_key(STAGING_APP, STAGING_GROUP), window)


def staging_rolled_back(tmp_path: Path) -> tuple[Any, FakeCodeDeploy, str]:
    """Staging's bucket, CodeDeploy and last success, which its bake window rolled back fast."""
    source_s3 = versioned_bucket("us-east-1", STAGING_BUCKET_US)
    staging, _ = released_in_staging(source_s3, STAGING_BUCKET_US, tmp_path)
    last = staging.last_successful
    assert last is not None
    rolled_back_window(source_s3, STAGING_BUCKET_US, last)
    return source_s3, staging, last


def test_a_deployment_rolled_back_in_its_bake_window_is_not_promoted(aws: None, tmp_path: Path) -> None:
    # Given staging's last success was rolled back fast in its bake window (CodeDeploy still lists it as the last)
    source_s3, staging, last = staging_rolled_back(tmp_path)
    # When asking what to promote from staging
    with pytest.raises(promotion.RolledBackInWindow) as refused:
        promotion.released_revision(staging, staging_targets(STAGING_BUCKET_US), "staging", s3=source_s3)
    # Then it is refused with exit 2, naming the deployment and the slot that serves again
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert f"deployment {last} of stage 'staging' was rolled back in its bake window" in str(refused.value)
    assert "staging-a serves the previous revision again" in str(refused.value)


def test_a_window_that_rolled_back_an_older_deployment_does_not_stop_the_promotion(aws: None, tmp_path: Path) -> None:
    # Given a window record of an earlier release, rolled back, and a later release that succeeded
    source_s3 = versioned_bucket("us-east-1", STAGING_BUCKET_US)
    staging, location = released_in_staging(source_s3, STAGING_BUCKET_US, tmp_path)
    rolled_back_window(source_s3, STAGING_BUCKET_US, "d-EARLIER")
    # When asking what to promote, Then the later release is promoted
    released = promotion.released_revision(staging, staging_targets(STAGING_BUCKET_US), "staging", s3=source_s3)
    assert released.key == location["key"]


def test_promote_revision_refuses_a_release_rolled_back_in_its_bake_window_and_copies_nothing(
    world: World, declared_stages: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    source_s3, staging, last = staging_rolled_back(tmp_path)
    monkeypatch.setattr(cli, "build_clients", lambda _: staging_clients(source_s3, staging, STAGING_BUCKET_US))
    production = world.codedeploy(SLOT_A)
    code = cli.main(
        ["promote-revision", "--from-stage", "staging", "--stage", "production"],
        env={},
        clients=production_clients(world, production),
    )
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert f"deployment {last} of stage 'staging' was rolled back in its bake window" in err
    assert "Traceback" not in err and "--from-deployment" in err
    assert world.objects() == [] and production.called("create_deployment") == []


def test_status_all_stages_says_a_stage_was_rolled_back_in_its_bake_window(
    world: World, declared_stages: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    source_s3, staging, last = staging_rolled_back(tmp_path)
    readers = {"us-east-1": staging_clients(source_s3, staging, STAGING_BUCKET_US)}
    monkeypatch.setattr(cli, "build_clients", lambda settings: readers[settings.region])
    code = cli.main(
        ["status", "--all-stages", "--json"],
        env={"AWS_REGION": REGION},
        clients=production_clients(world, world.codedeploy(SLOT_A)),
    )
    assert code == ExitCode.RELEASED
    stages = {item["stage"]: item for item in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["staging"]["revision"] is None
    assert stages["staging"]["problem"].startswith("rolled back in its bake window")
    assert last in stages["staging"]["problem"]


def test_rollback_after_a_fast_rollback_refuses_to_release_the_live_revision_again(aws: None) -> None:
    # Given r1 then r2 released, and r2 rolled back fast in its bake window (A serves r1 again)
    codedeploy = staging_codedeploy()
    codedeploy.add_deployment(status="Succeeded", revision_key="r1.zip", minutes_ago=90)
    second = codedeploy.add_deployment(status="Succeeded", revision_key="r2.zip", minutes_ago=60)
    s3 = versioned_bucket("us-east-1", STAGING_BUCKET_US)
    rolled_back_window(s3, STAGING_BUCKET_US, second)
    window = bake.read_window(s3, STAGING_BUCKET_US, bake.window_key(STAGING_APP, STAGING_GROUP))
    # When a plain rollback looks for the revision to release, Then it refuses (exit 2): r1 is live already
    with pytest.raises(InputError, match=f"deployment {second} was already rolled back in its bake window") as no_op:
        previous_revision(codedeploy, staging_targets(STAGING_BUCKET_US), window)
    assert no_op.value.exit_code == ExitCode.BAD_INPUT
    # And without that window it would have chosen r1
    assert previous_revision(codedeploy, staging_targets(STAGING_BUCKET_US))[0]["s3Location"]["key"] == "r1.zip"
