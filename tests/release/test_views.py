"""The views: how long is left, a progress line at least every 30 s in CI, a live table that leaves nothing stale."""

from __future__ import annotations

import io
import itertools
import re
from datetime import datetime, timedelta
from typing import Any

import pyte
from release import slots
from release.estimate import Expectation, expect
from release.follow import follow, poll
from release.record import ReleaseRecord
from release.runtime import Runtime
from release.views import LineView, LiveView, colour_wanted, live_wanted, make_view

from bluegreen.timing import TrafficTiming
from tests.release import scenarios
from tests.release.fakes import BLUE_EVENTS, T0, FakeClock, FakeCodeDeploy, Frame, Script, event, instance

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  ", re.MULTILINE)
# A tuned target group (interval 5 s, threshold 2, delay 30 s): AllowTraffic ~10 s (F85), BlockTraffic ~30 s (F107).
TUNED = TrafficTiming(interval_seconds=5, healthy_threshold=2, deregistration_delay_seconds=30)


def _gaps(output: str) -> list[float]:
    stamps = [datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ") for s in STAMP.findall(output)]
    return [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(stamps)]


def _expecting(record: ReleaseRecord, view: LineView | LiveView, *, instances: int = 2) -> None:
    view.expect(
        record,
        expect(TUNED, instances=instances, deployment_config="CodeDeployDefault.OneAtATime", scale_timeout_seconds=900),
    )


def _deployment(script: Script) -> tuple[FakeCodeDeploy, str]:
    """A scripted CodeDeploy with one created deployment following `script`."""
    codedeploy = FakeCodeDeploy("app", "group", "slot-a", script=script)
    deployment_id = codedeploy.create_deployment(
        applicationName="app",
        deploymentGroupName="group",
        revision={"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k.zip", "bundleType": "zip"}},
    )["deploymentId"]
    return codedeploy, deployment_id


class _BootingSlot:
    """DescribeAutoScalingGroups of a slot whose instances boot for `boot_polls` polls before InService."""

    def __init__(self, name: str, boot_polls: int) -> None:
        self.name, self.boot_polls, self.polls = name, boot_polls, 0

    def get_paginator(self, _operation: str) -> Any:
        return self

    def paginate(self, **_params: Any) -> list[dict[str, Any]]:
        self.polls += 1
        state = "InService" if self.polls > self.boot_polls else "Pending:Wait"
        instances = [{"InstanceId": f"i-{n}", "LifecycleState": state, "HealthStatus": "Healthy"} for n in range(2)]
        group = {
            "AutoScalingGroupName": self.name,
            "MinSize": 0,
            "MaxSize": 4,
            "DesiredCapacity": 2,
            "Instances": instances,
            "SuspendedProcesses": [],
        }
        return [{"AutoScalingGroups": [group]}]


# --- how long is left ------------------------------------------------------------------------------------------------


def test_a_slow_instance_boot_prints_a_progress_line_at_least_every_30_seconds_with_the_deadline() -> None:
    # Given a plain view of a release in its scale-up, and instances that take 5 minutes to come InService
    clock = FakeClock()
    stream = io.StringIO()
    view = LineView(stream, clock.now)
    record = ReleaseRecord(command="release", started=clock.now())
    _expecting(record, view)
    runtime = Runtime(now=clock.now, sleep=clock.sleep)
    # When waiting for the slot inside the scale-up phase
    with record.phase("scale-up", runtime):
        slots.wait_serving(
            _BootingSlot("slot-b", boot_polls=30), "slot-b", 2, runtime=runtime, timeout=900, log=view.note,
            progress=view.progress,
        )  # fmt: skip
    # Then no two lines are more than 30 s apart, and the waiting lines say the model's figure and the deadline
    output = stream.getvalue()
    assert clock.current - T0 >= timedelta(minutes=5)
    assert max(_gaps(output)) <= 30
    assert "still waiting: slot-b: 0/2 InService, 0 leaving; scale-up 20 s, model ~1 min 40 s" in output
    assert "deadline 12:15:00Z (14 min 40 s left)" in output
    assert output.rstrip().endswith("slot-b: 2/2 InService, 0 leaving")


def test_a_long_block_traffic_prints_a_progress_line_at_least_every_30_seconds_with_the_models_figure() -> None:
    # Given a deployment whose BlockTraffic runs on for minutes, followed by a plain view in the deployment phase
    clock = FakeClock()
    events = [event("BeforeBlockTraffic", "Succeeded", 0, 1), event("BlockTraffic", "InProgress", 1)]
    blocking = [instance(scenarios.BLUE_1, "Blue", events)]
    codedeploy, deployment_id = _deployment(Script([Frame("InProgress", blocking)]))
    stream = io.StringIO()
    view = LineView(stream, clock.now)
    record = ReleaseRecord(command="release", started=clock.now(), timeout_seconds=1800)
    _expecting(record, view)
    runtime = Runtime(now=clock.now, sleep=clock.sleep)
    # When following it for 4 minutes
    with record.phase("deployment", runtime):
        follow(codedeploy, deployment_id, runtime=runtime, view=view, timeout=240)
    # Then lines keep coming, naming the running event against the model and the deployment's deadline
    output = stream.getvalue()
    assert max(_gaps(output)) <= 30
    progress = [line for line in output.splitlines() if "still running:" in line]
    assert len(progress) >= 8
    assert f"Blue {scenarios.BLUE_1} BlockTraffic" in progress[0] and "(model ~30 s)" in progress[0]
    assert "deadline 12:30:00Z" in progress[0]


def test_the_model_gives_the_scale_up_and_the_deployment_their_figures() -> None:
    # Given the tuned target group and two instances one at a time
    expectation = expect(
        TUNED, instances=2, deployment_config="CodeDeployDefault.OneAtATime", scale_timeout_seconds=600
    )
    # Then the scale-up is the model's provisioning, the deployment its install, AllowTraffic and BlockTraffic
    assert expectation.phases == {"scale-up": 100, "deployment": 2 * 10 + 2 * 10 + 30}
    assert expectation.events == {"AllowTraffic": 10, "BlockTraffic": 30}
    assert expectation.budgets == {"scale-up": 600}


def test_the_live_view_shows_elapsed_time_the_running_phase_its_deadline_and_each_phase_beside_its_figure() -> None:
    # Given a live view of a release whose scale-up took 1 minute, now 2 minutes into its deployment (timeout 30 min)
    clock = FakeClock()
    stream = io.StringIO()
    view = LiveView(stream, clock.now, width=200)
    record = ReleaseRecord(command="release", started=clock.now(), timeout_seconds=1800)
    _expecting(record, view)
    runtime = Runtime(now=clock.now, sleep=clock.sleep)
    with record.phase("scale-up", runtime):
        clock.sleep(60)
    with record.phase("deployment", runtime):
        clock.sleep(120)
        # When it redraws
        view.progress("waiting")
        screen = _screen(stream.getvalue(), 200)
    view.close()
    # Then the header reads the phase, the model's figure, the deadline and the elapsed time
    assert screen[0].startswith(
        "deployment 2 min 00 s, model ~1 min 10 s, deadline 12:31:00Z (28 min 00 s left); elapsed 3 min 00 s"
    )
    # and the next line sets each phase beside its figure
    assert screen[1].startswith(
        "model: scale-up 1 min 00 s (model ~1 min 40 s); deployment running 2 min 00 s (model ~1 min 10 s)"
    )


# --- choosing the view -----------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ci_true_forces_plain_lines_even_on_a_terminal() -> None:
    # Given CI=true and stdout a terminal
    live = live_wanted(None, {"CI": "true"})
    # When the view is made
    view = make_view(_Terminal(), FakeClock().now, live=live)
    # Then it is the plain view
    assert live is False and isinstance(view, LineView)


def test_an_explicit_live_flag_wins_over_ci_and_ci_false_leaves_the_terminal_to_decide() -> None:
    assert live_wanted(True, {"CI": "true"}) is True
    assert live_wanted(None, {"CI": "false"}) is None
    assert live_wanted(None, {"TERM": "dumb"}) is False
    view = make_view(_Terminal(), FakeClock().now, live=live_wanted(None, {}), refresh_per_second=0)
    assert isinstance(view, LiveView)
    view.close()


def _colour_codes(text: str) -> set[str]:
    """Every SGR colour parameter (30-38, 40-48, 90-107) in `text`."""
    params = {p for group in re.findall(r"\x1b\[([0-9;]*)m", text) for p in group.split(";") if p}
    return {p for p in params if 30 <= int(p) <= 48 or 90 <= int(p) <= 107}


def _failed_snapshot() -> Any:
    codedeploy, deployment_id = _deployment(Script([Frame("Failed", scenarios.failed_targets())]))
    return poll(codedeploy, deployment_id)


def test_no_color_draws_the_live_table_without_colour() -> None:
    # Given NO_COLOR=1, and without it
    outputs = {}
    for env in ({"NO_COLOR": "1"}, {}):
        stream = io.StringIO()
        view = LiveView(stream, FakeClock().now, colour=colour_wanted(env), width=100)
        # When a failed deployment is drawn
        view.update(_failed_snapshot())
        view.close()
        outputs[bool(env)] = stream.getvalue()
    # Then only the coloured one carries colour codes
    assert _colour_codes(outputs[True]) == set()
    assert _colour_codes(outputs[False])


def _screen(output: str, columns: int, lines: int = 40) -> list[str]:
    """What a terminal of `columns` shows after `output` (a VT100 emulator plays the escape sequences)."""
    screen = pyte.Screen(columns, lines)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n"))
    return [line.rstrip() for line in screen.display]


def test_a_narrow_terminal_keeps_no_stale_status_line() -> None:
    # Given a live view 40 columns wide, drawing three instances, then a long note, then only one instance
    clock = FakeClock()
    stream = io.StringIO()
    view = LiveView(stream, clock.now, width=40)
    three = [
        instance(f"i-0{n}aaaaaaaaaaaaaaaaaaaa", "Green", [event("AllowTraffic", "InProgress", 0)]) for n in range(3)
    ]
    one = [instance("i-0zzzzzzzzzzzzzzzzzzzz", "Blue", [event(name, "Pending") for name in BLUE_EVENTS])]
    for targets in (three, one):
        codedeploy, deployment_id = _deployment(Script([Frame("InProgress", targets)]))
        view.update(poll(codedeploy, deployment_id))
        view.note("a note far longer than the forty columns of this terminal, so that it wraps over lines")
    # When the terminal shows what was written
    shown = "\n".join(_screen(stream.getvalue(), 40))
    # Then only the last table is on screen: the earlier instances' rows are gone, every line fits the width
    assert "i-0zzzz" in shown
    assert "i-00aaa" not in shown and "i-01aaa" not in shown and "i-02aaa" not in shown
    assert shown.count("deployment d-") == 1
    view.close()
    assert "i-0zzzz" not in "\n".join(_screen(stream.getvalue(), 40))


def test_the_plain_view_names_a_rollback_deployment_and_writes_no_control_characters() -> None:
    # Given the rollback deployment CodeDeploy started for a failed one
    codedeploy, deployment_id = _deployment(scenarios.failure_at_after_install())
    codedeploy.get_deployment(deploymentId=deployment_id)
    codedeploy.get_deployment(deploymentId=deployment_id)
    rollback_id = codedeploy.rollbacks[deployment_id]
    stream = io.StringIO()
    view = LineView(stream, FakeClock().now)
    # When it is shown
    view.update(poll(codedeploy, rollback_id))
    # Then its status line says it is the rollback of the failed deployment
    assert f"rollback deployment {rollback_id} (of {deployment_id}): InProgress" in stream.getvalue()
    assert "\x1b" not in stream.getvalue()


def test_an_expectation_without_figures_still_gives_the_elapsed_time() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    view = LineView(stream, clock.now)
    view.expect(ReleaseRecord(command="release", started=clock.now()), Expectation())
    clock.sleep(25)
    view.progress("x")
    clock.sleep(25)
    view.progress("x")
    assert stream.getvalue().splitlines()[-1].endswith("still waiting: x; elapsed 50 s")


def test_the_plain_view_states_the_models_figure_for_every_phase_when_the_release_knows_it() -> None:
    # Given a plain view
    clock = FakeClock()
    stream = io.StringIO()
    view = LineView(stream, clock.now)
    # When the release hands it the model for two instances behind the tuned target group
    _expecting(ReleaseRecord(command="release", started=clock.now()), view)
    # Then one line gives each phase's figure, the traffic steps' and what follows the release
    assert stream.getvalue().splitlines() == [
        "2026-01-01T12:00:00Z  model: scale-up ~1 min 40 s; deployment ~1 min 10 s; "
        "each AllowTraffic ~10 s, BlockTraffic ~30 s; then the old slot drains and terminates, ~35 s"
    ]
