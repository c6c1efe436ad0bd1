"""The release state machine against moto (S3, Auto Scaling) and a scripted CodeDeploy validated by the model."""

from __future__ import annotations

import os
import signal

import pytest
from release import upload as upload_module
from release.errors import ExitCode
from release.orchestrate import Release
from release.runtime import stop_on_signals
from release.tree import scan_revision

from bluegreen.timing import ALB_DEFAULTS, INSTALL_SECONDS
from tests.release import scenarios
from tests.release.fakes import Frame, Script
from tests.release.support import BUCKET, SLOT_A, SLOT_B, World, refuse_opening


def _release(world: World, codedeploy, **options):
    view, stream = world.view()
    runtime = world.runtime()
    release = Release(
        world.clients(codedeploy), world.targets(options.pop("bucket", BUCKET)), world.options(**options), runtime, view
    )
    record = release.run()
    return record, stream.getvalue(), runtime


def _serving(world: World, slot: str) -> int:
    return sum(1 for i in world.slot(slot)["Instances"] if i["LifecycleState"] == "InService")


# --- success -------------------------------------------------------------------------------------------------------


def test_a_successful_release_switches_the_group_to_the_idle_slot_and_empties_the_old_one(world: World) -> None:
    # Given slot A live with 2 instances and a deployment that succeeds
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then it exits 0, the group lists slot B and slot A is emptied
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.listed == [SLOT_B]
    assert world.slot(SLOT_A)["DesiredCapacity"] == 0
    assert _serving(world, SLOT_B) == 2


def test_the_deployment_targets_the_idle_slot_with_the_uploaded_revision(world: World) -> None:
    # Given slot A live
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing
    _release(world, codedeploy)
    # Then CreateDeployment names slot B as the replacement environment and the pinned S3 revision
    (call,) = codedeploy.called("create_deployment")
    assert call["targetInstances"] == {"autoScalingGroups": [SLOT_B]}
    assert call["revision"]["s3Location"]["key"] in world.objects()
    assert call["revision"]["s3Location"]["eTag"]
    assert "0123456789ab" in call["description"] and "main" in call["description"]


def test_the_idle_slot_gets_the_larger_of_the_live_size_and_the_fleet_size(world: World) -> None:
    # Given slot A live with 3 instances (scaled out beyond the fleet's desired 2)
    world.scale(SLOT_A, 3)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then slot B was filled to 3
    assert record.capacity == 3
    assert world.slot(SLOT_B)["DesiredCapacity"] == 3


def test_scaling_processes_are_suspended_during_the_deployment_and_resumed_after(world: World) -> None:
    # Given a deployment that is still running at the first poll
    world.scale(SLOT_A, 2)
    seen: list[set[str]] = []
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    original = codedeploy.get_deployment

    def spy(**params):
        seen.append({p["ProcessName"] for p in world.slot(SLOT_B)["SuspendedProcesses"]})
        return original(**params)

    codedeploy.get_deployment = spy
    # When releasing
    _release(world, codedeploy)
    # Then Launch and Terminate were suspended while polling, and nothing is suspended afterwards
    assert {"Launch", "Terminate", "AZRebalance", "ReplaceUnhealthy", "AlarmNotification", "ScheduledActions"} <= seen[
        0
    ]
    assert world.slot(SLOT_A)["SuspendedProcesses"] == []
    assert world.slot(SLOT_B)["SuspendedProcesses"] == []


def test_every_lifecycle_event_is_shown_with_its_label_and_duration(world: World) -> None:
    # Given a successful deployment
    world.scale(SLOT_A, 2)
    # When releasing
    _, output, _ = _release(world, world.codedeploy(SLOT_A, scenarios.success()))
    # Then start and end lines name the instance, its Blue/Green label and the duration
    assert f"Green {scenarios.GREEN_1}  AfterInstall started" in output
    assert f"Green {scenarios.GREEN_1}  AfterInstall succeeded in 1 s" in output
    assert f"Blue  {scenarios.BLUE_1}  BlockTraffic succeeded in 1 s" in output
    assert "\x1b" not in output


# --- first release -------------------------------------------------------------------------------------------------


def test_the_first_release_onto_empty_slots_fills_slot_b_to_the_fleet_size(world: World) -> None:
    # Given a fresh stack: the group lists slot A, and both slots are empty
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then slot B gets the fleet's desired size and becomes live
    assert record.exit_code == ExitCode.RELEASED
    assert record.first_release
    assert world.slot(SLOT_B)["DesiredCapacity"] == 2
    assert codedeploy.listed == [SLOT_B]


def test_a_group_listing_no_slot_takes_slot_a_as_the_empty_live_slot(world: World) -> None:
    # Given a group that lists no Auto Scaling group at all
    codedeploy = world.codedeploy(None, scenarios.success())
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then slot B receives the release
    assert record.live_before == SLOT_A and record.live_after == SLOT_B


# --- failure -------------------------------------------------------------------------------------------------------


def test_a_failure_at_after_install_names_the_instance_and_event_and_keeps_the_diagnostics(world: World) -> None:
    # Given a deployment that fails at AfterInstall
    world.scale(SLOT_A, 2)
    # When releasing
    record, output, _ = _release(world, world.codedeploy(SLOT_A, scenarios.failure_at_after_install()))
    # Then the progress names the failed instance and event, and it exits 1
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert f"failed: Green {scenarios.GREEN_1} AfterInstall (ScriptFailed)" in output
    # and the record holds errorCode, scriptName, message and log tail for the summary (printed once, there)
    failure = "\n".join(record.failure)
    assert f"Green instance {scenarios.GREEN_1}: AfterInstall failed" in failure
    assert "errorCode:  ScriptFailed" in failure
    assert "scriptName: scripts/after_install.sh" in failure
    assert "failed with exit code 3" in failure
    assert "config.json: missing key 'port'" in failure


def test_a_failed_deployment_reports_the_rollback_and_its_outcome(world: World) -> None:
    # Given a failing deployment that CodeDeploy rolls back
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.failure_at_after_install())
    # When releasing
    record, output, _ = _release(world, codedeploy)
    # Then the rollback deployment and its success are reported, and the error names it
    rollback_id = codedeploy.rollbacks[codedeploy.created[0]]
    assert record.rollback_id == rollback_id and record.rollback_status == "Succeeded"
    assert f"rollback deployment {rollback_id}: Succeeded" in output
    assert rollback_id in record.error.message


def test_a_failed_deployment_empties_the_failed_slot_and_keeps_the_live_one(world: World) -> None:
    # Given a failing deployment
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.failure_at_after_install())
    # When releasing
    _release(world, codedeploy)
    # Then slot B is back to 0, slot A untouched and still listed
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert world.slot(SLOT_A)["DesiredCapacity"] == 2
    assert codedeploy.listed == [SLOT_A]


def test_a_failure_after_traffic_moved_empties_the_slot_only_once_the_rollback_succeeded(world: World) -> None:
    # Given a deployment whose green instances took traffic before a blue event failed
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.traffic_then_failure())
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then the rollback was followed to success before slot B was emptied
    assert record.rollback_status == "Succeeded"
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


# --- timeout and cancel ---------------------------------------------------------------------------------------------


def test_a_timeout_stops_the_deployment_with_rollback_and_exits_3(world: World) -> None:
    # Given a deployment that never ends and a 60 s timeout
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.never_ending())
    # When releasing
    record, _, _ = _release(world, codedeploy, timeout_seconds=60.0)
    # Then StopDeployment was called with automatic rollback, slot B emptied, exit 3
    assert codedeploy.called("stop_deployment") == [
        {"deploymentId": codedeploy.created[0], "autoRollbackEnabled": True}
    ]
    assert record.exit_code == ExitCode.TIMED_OUT
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_sigint_while_following_stops_the_deployment_at_the_next_poll_and_exits_4(world: World) -> None:
    # Given a deployment that never ends, and SIGINT delivered to the process during the third sleep
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.never_ending())
    world.clock.on_sleep = lambda n: os.kill(os.getpid(), signal.SIGINT) if n == 3 else None
    view, _ = world.view()
    runtime = world.runtime()
    # When releasing with the signal handlers installed
    with stop_on_signals(runtime.stop):
        record = Release(world.clients(codedeploy), world.targets(), world.options(), runtime, view).run()
    # Then the deployment was stopped with rollback without a further poll sleep, and it exits 4
    assert runtime.stop.reason == "SIGINT"
    assert codedeploy.called("stop_deployment")[0]["autoRollbackEnabled"] is True
    assert record.exit_code == ExitCode.CANCELLED
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_processes_are_resumed_after_a_cancel(world: World) -> None:
    # Given a cancelled release
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.never_ending())
    runtime_holder = {}
    world.clock.on_sleep = lambda n: runtime_holder["rt"].stop.request("SIGTERM") if n == 2 else None
    view, _ = world.view()
    runtime_holder["rt"] = world.runtime()
    # When it ends
    Release(world.clients(codedeploy), world.targets(), world.options(), runtime_holder["rt"], view).run()
    # Then no scaling process stays suspended on either slot
    assert world.slot(SLOT_A)["SuspendedProcesses"] == world.slot(SLOT_B)["SuspendedProcesses"] == []


# --- throttling -----------------------------------------------------------------------------------------------------


def test_throttled_polls_do_not_fail_the_release(world: World) -> None:
    # Given GetDeployment throttled on its 2nd and 3rd call
    world.scale(SLOT_A, 2)
    script = scenarios.success()
    script.throttle_polls = {2, 3}
    # When releasing
    record, output, _ = _release(world, world.codedeploy(SLOT_A, script))
    # Then the release succeeds and the back-off was mentioned
    assert record.exit_code == ExitCode.RELEASED
    assert "ThrottlingException" in output


def test_throttled_polls_back_off_longer(world: World) -> None:
    # Given GetDeployment throttled twice in a row
    world.scale(SLOT_A, 2)
    script = scenarios.success()
    script.throttle_polls = {2, 3}
    # When releasing
    _release(world, world.codedeploy(SLOT_A, script))
    # Then the sleeps after the throttled polls are longer than the normal poll interval allows (5 s +20 %)
    assert max(world.clock.sleeps) > 6.0


# --- refusals (exit 2 and 5) ----------------------------------------------------------------------------------------


def test_a_deployment_in_flight_is_refused_with_exit_5_before_anything_is_uploaded(world: World) -> None:
    # Given a deployment InProgress for the group
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    running = codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=3)
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then it exits 5 naming the deployment, uploads nothing and scales nothing
    assert record.exit_code == ExitCode.RELEASE_IN_FLIGHT
    assert running in record.error.message
    assert world.objects() == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert codedeploy.called("list_deployments")[0]["includeOnlyStatuses"] == [
        "Created",
        "Queued",
        "InProgress",
        "Ready",
        "Baking",
    ]


def test_a_deployment_started_between_check_and_create_is_reported_as_in_flight(world: World) -> None:
    # Given CreateDeployment answering DeploymentLimitExceededException
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    original = codedeploy.create_deployment

    def racing(**params):
        codedeploy.add_deployment(status="InProgress", minutes_ago=0)
        return original(**params)

    codedeploy.create_deployment = racing
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then it exits 5 and empties the slot it had filled
    assert record.exit_code == ExitCode.RELEASE_IN_FLIGHT
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_an_invalid_appspec_exits_2_and_nothing_is_uploaded_or_scaled(world: World) -> None:
    # Given a revision whose appspec has the wrong version
    (world.app_dir / "appspec.yml").write_text("version: 1.0\nos: linux\n")
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then it exits 2, the bucket is empty and no slot was touched
    assert record.exit_code == ExitCode.BAD_INPUT
    assert "version" in record.error.describe()
    assert world.objects() == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert codedeploy.called("create_deployment") == []


def test_a_missing_bucket_exits_2_and_nothing_is_scaled(world: World) -> None:
    # Given a bucket name that does not exist
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing to it
    record, _, _ = _release(world, codedeploy, bucket="no-such-bucket-here")
    # Then it exits 2 with a hint, and nothing was scaled
    assert record.exit_code == ExitCode.BAD_INPUT
    assert "no-such-bucket-here" in record.error.message
    assert "What to do:" in record.error.describe()
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_the_bucket_is_checked_once_per_release(world: World) -> None:
    # Given a counting HeadBucket
    world.scale(SLOT_A, 2)
    checks = []
    original = world.s3.head_bucket

    def counting(**params):
        checks.append(params)
        return original(**params)

    world.s3.head_bucket = counting
    # When releasing (bundle, pre-flight, upload, deploy)
    record, _, _ = _release(world, world.codedeploy(SLOT_A, scenarios.success()))
    # Then the bucket was checked once, in the pre-flight
    assert record.exit_code == ExitCode.RELEASED
    assert checks == [{"Bucket": BUCKET}]


# --- upload ---------------------------------------------------------------------------------------------------------


def test_the_release_stores_the_revision_under_its_content_hash_and_records_it(world: World) -> None:
    # Given slot A live and the revision's content hash, computed before anything is compressed
    world.scale(SLOT_A, 2)
    tree = scan_revision(world.app_dir)
    # When releasing
    record, _, _ = _release(world, world.codedeploy(SLOT_A, scenarios.success()))
    # Then the deployed object is named by that hash, and the record holds the hash, the file count and the stored size
    key = record.revision["s3Location"]["key"]
    assert key == f"revisions/{world.targets().application}/{tree.content_sha256}.zip"
    stored = world.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    assert (record.bundle_sha256, record.bundle_files, record.bundle_size) == (tree.content_sha256, 3, stored)


def test_an_unchanged_revision_is_neither_compressed_nor_uploaded_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first release of the revision
    world.scale(SLOT_A, 2)
    first, _, _ = _release(world, world.codedeploy(SLOT_A, scenarios.success()))

    def no_zip(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zip was built for an unchanged revision")

    monkeypatch.setattr(upload_module, "ZipReader", no_zip)
    # When the same revision is released again
    second, output, _ = _release(world, world.codedeploy(SLOT_B, scenarios.success()))
    # Then the second run compressed nothing, skipped the upload and deployed the same object
    assert second.exit_code == ExitCode.RELEASED
    assert first.uploaded is True and second.uploaded is False
    assert "upload skipped" in output
    assert (second.revision, second.bundle_size) == (first.revision, first.bundle_size)


def test_unreadable_files_exit_2_naming_each_and_nothing_is_uploaded_or_scaled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two files of the revision that cannot be opened (simulated: the tests may run as root)
    (world.app_dir / "app" / "style.css").write_text("h1 {}\n")
    refuse_opening(monkeypatch, "app/index.html", "app/style.css")
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then exit 2 naming both files; the bucket holds no revision and no slot was touched
    assert record.exit_code == ExitCode.BAD_INPUT
    assert "app/index.html: cannot be read (Permission denied)" in record.error.describe()
    assert "app/style.css: cannot be read (Permission denied)" in record.error.describe()
    assert world.objects() == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert codedeploy.called("create_deployment") == []


# --- recovery -------------------------------------------------------------------------------------------------------


def test_an_idle_slot_left_scaled_up_by_a_crashed_release_is_emptied_first(world: World) -> None:
    # Given slot A live, slot B left with 2 instances and suspended processes by an interrupted run
    world.scale(SLOT_A, 2)
    world.scale(SLOT_B, 2)
    world.autoscaling.suspend_processes(AutoScalingGroupName=SLOT_B, ScalingProcesses=["Launch", "Terminate"])
    stale = {i["InstanceId"] for i in world.slot(SLOT_B)["Instances"]}
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing
    record, output, _ = _release(world, codedeploy)
    # Then the leftover was detected and replaced by fresh instances, and the release succeeded
    assert record.exit_code == ExitCode.RELEASED
    assert any("interrupted release" in note for note in record.recovered)
    assert "emptying it" in output
    assert stale.isdisjoint({i["InstanceId"] for i in world.slot(SLOT_B)["Instances"]})


def test_a_switch_left_undone_after_a_successful_deployment_is_finished_first(world: World) -> None:
    # Given the last successful deployment put slot B live but the group still lists slot A (crash before switching)
    world.scale(SLOT_B, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B, minutes_ago=10)
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then slot B was treated as live (the group pointed at it first) and the new release went to slot A
    assert record.live_before == SLOT_B
    assert codedeploy.called("update_deployment_group")[0]["autoScalingGroups"] == [SLOT_B]
    assert codedeploy.called("create_deployment")[0]["targetInstances"] == {"autoScalingGroups": [SLOT_A]}


def test_a_rollback_deployment_is_not_mistaken_for_an_undone_switch(world: World) -> None:
    # Given the last successful deployment is a CodeDeploy rollback
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    codedeploy.add_deployment(status="Succeeded", creator="codeDeployRollback", target_slot=SLOT_B)
    # When releasing
    record, _, _ = _release(world, codedeploy)
    # Then slot A stays the live slot before the release
    assert record.live_before == SLOT_A


def test_a_slot_that_never_becomes_ready_times_out_and_is_emptied(world: World) -> None:
    # Given instances that never turn healthy
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, Script([Frame("Succeeded")]))
    original = world.autoscaling.update_auto_scaling_group

    def unhealthy(**params):
        answer = original(**params)
        for item in world.slot(params["AutoScalingGroupName"])["Instances"]:
            world.autoscaling.set_instance_health(InstanceId=item["InstanceId"], HealthStatus="Unhealthy")
        return answer

    world.autoscaling.update_auto_scaling_group = unhealthy
    # When releasing with a short scale timeout
    record, _, _ = _release(world, codedeploy, scale_timeout_seconds=30.0)
    # Then it times out before any deployment and slot B is back to 0
    assert record.exit_code == ExitCode.TIMED_OUT
    assert codedeploy.called("create_deployment") == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_a_stop_requested_before_the_slots_are_touched_ends_the_run_without_scaling(world: World) -> None:
    # Given SIGTERM arrived while the bundle was being built
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    view, _ = world.view()
    runtime = world.runtime()
    runtime.stop.request("SIGTERM")
    # When the release goes on
    record = Release(world.clients(codedeploy), world.targets(), world.options(), runtime, view).run()
    # Then it exits 4 before scaling or deploying anything
    assert record.exit_code == ExitCode.CANCELLED
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert codedeploy.called("create_deployment") == []
    # and before taking the release lease or uploading the revision: the bucket is as it was
    assert world.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []


def test_a_second_signal_skips_waiting_for_the_stopped_deployment(world: World) -> None:
    # Given a deployment that keeps running even after StopDeployment, and two signals in a row
    world.scale(SLOT_A, 2)
    script = scenarios.never_ending()
    script.after_stop = Frame("InProgress")
    codedeploy = world.codedeploy(SLOT_A, script)
    view, _ = world.view()
    runtime = world.runtime()
    world.clock.on_sleep = lambda n: runtime.stop.request("SIGINT") if n in (2, 3) else None
    # When releasing
    record = Release(world.clients(codedeploy), world.targets(), world.options(), runtime, view).run()
    # Then it exits 4 after a poll or two of the stopped deployment instead of waiting out the cleanup timeout
    assert record.exit_code == ExitCode.CANCELLED
    assert codedeploy.polls[codedeploy.created[0]] <= 2


def test_a_release_records_the_model_of_its_own_capacity_and_deployment_configuration(world: World) -> None:
    # Given slot A live with 3 instances (the idle slot gets 3) and no target group known (ALB defaults apply)
    world.scale(SLOT_A, 3)
    # When releasing
    record, _, _ = _release(world, world.codedeploy(SLOT_A, scenarios.success()))
    # Then the model covers 3 instances one at a time (the group's configuration): 3 install and AllowTraffic batches
    phases = {phase.name: phase.seconds for phase in record.model.phases}
    assert (phases["install"], phases["AllowTraffic"]) == (
        3 * INSTALL_SECONDS,
        3 * ALB_DEFAULTS.expected_allow_traffic_seconds,
    )
