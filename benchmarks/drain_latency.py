"""Benchmark of the drain: how soon after the last response is an instance let go? Prints numbers; not a test.

1. Measured locally, for real: the sample app (sample-app/app/server.py) runs on 127.0.0.1; a client holds idle
   keep-alive connections to it, as an Application Load Balancer does, while a few slow requests are in flight. The
   drain's decision loop (`drain.decision.drain`) runs on real time with a local adapter whose one "SSM command" is
   the very on-instance wait script the Lambda sends (`drain.wait_script`), run with `sh`. It is run twice per round:
   with the in-flight check (the default `drainInFlightCommand`) and with the former check, counting established
   connections on the app port. Reported: time from the last response to CompleteLifecycleAction, locally.
2. Modelled for AWS: the local figure plus the AWS latencies the local run does not have (SSM delivery and report,
   the status-read interval, API calls), with the figures printed and their sources named. For the connection signal
   with keep-alive the drain ends at its bound, the deregistration delay, whatever the latencies.
3. SSM calls per drain, and the cold import time of `drain.handler` (what a cold start pays, boto3 included).

Usage (`make bench` runs it so; Linux, needs curl and ss):
    PYTHONPATH=lambdas .venv/bin/python benchmarks/drain_latency.py [--runs 7] [--imports 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The drain Lambda's package sits in lambdas/ (its asset root), not in an installed distribution: `make bench` runs
# this file with PYTHONPATH=lambdas, as the Lambda runtime puts the asset root on the path.
from drain import wait_script
from drain.decision import DrainSettings, InstanceWait, ProbeError, Signal, drain
from drain.event import LifecycleAction

from bluegreen.config import DEFAULT_DRAIN_IN_FLIGHT_COMMAND

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "sample-app" / "app" / "server.py"
ACTION = LifecycleAction(group_name="slot-a", hook_name="hook", instance_id="i-1234567890abcdef0")
CONNECTION_COUNT_COMMAND = "ss -Htn state established '( sport = :{port} )' | wc -l"
IDLE_CONNECTIONS = 4
SLOW_REQUEST_MS = (600, 900, 1200)
# The connection signal never drains while idle connections stay open: its local run is bounded this long after
# the slowest request would have ended (in AWS the bound is the deregistration delay).
CONNECTION_BOUND_AFTER_LAST_SECONDS = 2.0
DEREGISTRATION_DELAY_SECONDS = 30.0  # the project's default (deregistrationDelaySeconds)
FORMER_POLL_SECONDS = 5.0  # the former default drainPollIntervalSeconds: one SSM command per poll
FORMER_STATUS_READ_SECONDS = 0.5  # the former adapter read each command's status every 0.5 s
STATUS_READ_SECONDS = DrainSettings(
    app_port=0, deregistration_delay=0, heartbeat_timeout=0, poll_interval=0.5
).poll_interval  # bluegreen.config default drainPollIntervalSeconds


@dataclass(frozen=True)
class AwsLatency:
    """The AWS latencies the local run cannot measure, in seconds. All are assumptions: no AWS document gives them."""

    api_call: float  # one control-plane call from Lambda in the Region (CompleteLifecycleAction, GetCommandInvocation)
    ssm_delivery: float  # SendCommand accepted -> the script running on the instance
    ssm_report: float  # the script ended -> GetCommandInvocation shows Success with its output

    def rows(self) -> list[tuple[str, float, str]]:
        return [
            ("API call (CompleteLifecycleAction, GetCommandInvocation, SendCommand)", self.api_call, "assumption"),
            ("SSM delivery: SendCommand -> script running", self.ssm_delivery, "assumption"),
            ("SSM report: script ended -> Success readable", self.ssm_report, "assumption"),
        ]


# ---------------------------------------------------------------------------------------------------------------
# The sample app and its client
# ---------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def sample_app(tmp: Path) -> Iterator[int]:
    """Run the sample app on a free loopback port; yield the port; stop it (bounded) afterwards."""
    port = free_port()
    pid_file = tmp / "app.pid"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SAMPLE_APP_PORT": str(port),
        "SAMPLE_APP_BIND": "127.0.0.1",
        "SAMPLE_APP_ROOT": str(tmp),
        "SAMPLE_APP_PID_FILE": str(pid_file),
        "SAMPLE_APP_REVISION": "bench",
    }
    with (tmp / "app.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, str(SERVER)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not pid_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sample app did not start: {(tmp / 'app.log').read_text()}")
            time.sleep(0.02)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def idle_connection(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection that made one request and stays open, as the load balancer keeps its connections."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/health")
    connection.getresponse().read()
    return connection


class SlowRequests:
    """Slow requests on keep-alive connections (left open afterwards); records when the last response was read."""

    def __init__(self, port: int, durations_ms: Sequence[int]) -> None:
        self.connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in durations_ms]
        self.answered: list[float] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._one, args=(connection, ms), daemon=True)
            for connection, ms in zip(self.connections, durations_ms, strict=True)
        ]
        for thread in self.threads:
            thread.start()

    def _one(self, connection: http.client.HTTPConnection, ms: int) -> None:
        connection.request("GET", f"/slow?ms={ms}")
        response = connection.getresponse()
        response.read()
        with self._lock:
            self.answered.append(time.monotonic())

    def last_response(self) -> float:
        for thread in self.threads:
            thread.join(30)
        return max(self.answered)

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


# ---------------------------------------------------------------------------------------------------------------
# The drain, locally: the real decision loop, with the on-instance wait run here instead of through SSM
# ---------------------------------------------------------------------------------------------------------------


class LocalInstance:
    """`DrainPorts` for an instance that is this machine: the wait script runs with `sh`, AWS calls are no-ops."""

    def __init__(self, check_command: str, port: int) -> None:
        self.check = check_command.replace("{port}", str(port))
        self.completed_at: float | None = None
        self.commands = 0

    def record_heartbeat(self, action: LifecycleAction) -> None:
        """Always active."""

    def complete(self, action: LifecycleAction) -> None:
        self.completed_at = time.monotonic()

    def target_states(self, instance_id: str) -> Mapping[int, str]:
        return {8080: "healthy"}

    def deregister(self, instance_id: str, ports: Sequence[int]) -> None:
        """The load balancer is the client here; it sends no new request once the drain has started."""

    def wait_for_drain(self, instance_id: str, bound_seconds: float, give_up_at: float) -> InstanceWait:
        self.commands += 1
        script = wait_script.render(self.check, bound_seconds)
        result = subprocess.run(
            ["sh", "-c", script], check=False, capture_output=True, text=True, timeout=bound_seconds + 10
        )
        if result.returncode != 0:
            raise ProbeError(f"exit-{result.returncode}", result.stderr.strip())
        return wait_script.parse(result.stdout)


@dataclass(frozen=True)
class Round:
    """One drain: the signal that ended it and seconds from the last response to CompleteLifecycleAction."""

    signal: Signal
    after_last_response: float
    checks: int
    in_flight_left: int | None
    commands: int


def drain_round(port: int, check_command: str, bound_seconds: float) -> Round:
    """Hold idle connections, start the slow requests, drain with `check_command`; close everything afterwards."""
    idle = [idle_connection(port) for _ in range(IDLE_CONNECTIONS)]
    slow = SlowRequests(port, SLOW_REQUEST_MS)
    try:
        time.sleep(0.05)  # the requests have reached the app: the drain starts while they are in flight
        instance = LocalInstance(check_command, port)
        # No SSM here: the command needs no allowance to reach the instance and report back.
        settings = DrainSettings(
            app_port=port,
            deregistration_delay=bound_seconds,
            heartbeat_timeout=bound_seconds + 60,
            poll_interval=STATUS_READ_SECONDS,
            command_allowance=0.0,
            max_wait_commands=1,
        )
        outcome = drain(ACTION, settings, instance, clock=time.monotonic, sleep=time.sleep)
        last = slow.last_response()
        assert instance.completed_at is not None
        return Round(outcome.signal, instance.completed_at - last, outcome.checks, outcome.in_flight, instance.commands)
    finally:
        slow.close()
        for connection in idle:
            connection.close()


# ---------------------------------------------------------------------------------------------------------------
# The AWS model
# ---------------------------------------------------------------------------------------------------------------


def modelled_in_flight(local: float, aws: AwsLatency) -> float:
    """Last response -> CompleteLifecycleAction in AWS with the in-flight signal and one waiting command.

    The local run already contains the on-instance detection (two zero checks 0.1 s apart). AWS adds: the agent
    reporting the script's end, the wait for the next status read (uniform phase: half the interval on average),
    that read, and the CompleteLifecycleAction call. SSM delivery is not on this path: the command was delivered
    while requests were still in flight.
    """
    return local + aws.ssm_report + STATUS_READ_SECONDS / 2 + aws.api_call + aws.api_call


def former_round_trip(aws: AwsLatency) -> float:
    """One read of the former design: SendCommand, delivery, the check, report, the next status read, that read."""
    return aws.api_call + aws.ssm_delivery + aws.ssm_report + FORMER_STATUS_READ_SECONDS / 2 + aws.api_call


def modelled_connections_closing(aws: AwsLatency) -> float:
    """The former design if the app closed every connection after its response (the former sample app).

    The next poll starts on average half a poll interval after the count reaches 0; two zero reads in a row (each a
    full SSM round trip) decide; then CompleteLifecycleAction.
    """
    return FORMER_POLL_SECONDS / 2 + 2 * former_round_trip(aws) + aws.api_call


def modelled_connections_keepalive(last_response_after_start: float, aws: AwsLatency) -> float:
    """The former design with keep-alive: the count never reaches 0, the drain ends at the deregistration delay."""
    return DEREGISTRATION_DELAY_SECONDS - last_response_after_start + aws.api_call


def former_commands(aws: AwsLatency) -> int:
    """SSM commands the former design sends in a drain that ends at its bound: one per poll."""
    period = max(FORMER_POLL_SECONDS, former_round_trip(aws))
    return math.ceil(DEREGISTRATION_DELAY_SECONDS / period)


def import_times(count: int) -> list[float]:
    """Seconds to import the handler module in a fresh interpreter, one per run."""
    code = "import time; t = time.perf_counter(); import drain.handler; print(time.perf_counter() - t)"
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT / "lambdas", check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(count)
    ]


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(in_flight: list[Round], connections: list[Round], aws: AwsLatency, imports: list[float]) -> dict[str, float]:
    """Print the table (Markdown) and return its figures."""
    last_after_start = max(SLOW_REQUEST_MS) / 1000
    local_new = median([r.after_last_response for r in in_flight])
    local_old = median([r.after_last_response for r in connections])
    aws_new = modelled_in_flight(local_new, aws)
    aws_old_keepalive = modelled_connections_keepalive(last_after_start, aws)
    aws_old_closing = modelled_connections_closing(aws)
    drained_new = sum(r.signal == Signal.REQUESTS_DRAINED for r in in_flight)
    drained_old = sum(r.signal == Signal.REQUESTS_DRAINED for r in connections)
    left_old = median([float(r.in_flight_left or 0) for r in connections])
    reads_new = math.ceil(aws_new / STATUS_READ_SECONDS) + 1
    figures = {
        "local_in_flight_s": local_new,
        "local_connections_s": local_old,
        "aws_in_flight_s": aws_new,
        "aws_connections_keepalive_s": aws_old_keepalive,
        "aws_connections_closing_s": aws_old_closing,
    }
    runs = len(in_flight)
    print(
        f"{runs} rounds; each: {IDLE_CONNECTIONS} idle keep-alive connections + {len(SLOW_REQUEST_MS)} slow requests "
        f"({', '.join(map(str, SLOW_REQUEST_MS))} ms) to the sample app on 127.0.0.1; medians.\n"
    )
    print("| | connection-count signal (former) | in-flight signal (now) | ratio former/now |")
    print("|---|---|---|---|")
    print(
        f"| rounds that reported drained (local) | {drained_old}/{runs} | {drained_new}/{runs} | |\n"
        f"| last response -> CompleteLifecycleAction, local | never drained: ended at its bound, "
        f"{local_old:.2f} s (with {left_old:.0f} idle connections still counted) | {local_new:.3f} s | "
        f"(bounded) |\n"
        f"| last response -> CompleteLifecycleAction, AWS (modelled), keep-alive app | {aws_old_keepalive:.1f} s "
        f"(the {DEREGISTRATION_DELAY_SECONDS:.0f} s deregistration delay) | {aws_new:.2f} s | "
        f"{aws_old_keepalive / aws_new:.0f}x |\n"
        f"| same, if the app closed every connection (former sample app) | {aws_old_closing:.1f} s | "
        f"{aws_new:.2f} s | {aws_old_closing / aws_new:.1f}x |\n"
        f"| SSM commands (SendCommand) per drain | 1 per {FORMER_POLL_SECONDS:.0f} s poll: "
        f"{former_commands(aws)} in a {DEREGISTRATION_DELAY_SECONDS:.0f} s drain | 1, whatever the drain's length | |\n"
        f"| GetCommandInvocation reads per drain | ~{math.ceil(former_round_trip(aws) / FORMER_STATUS_READ_SECONDS)} "
        f"per command | 1 per {STATUS_READ_SECONDS:g} s while it drains (~{reads_new} after the last response) | |\n"
    )
    print("AWS latencies used by the model (override with the flags; none is published by AWS):\n")
    print("| figure | seconds | source |")
    print("|---|---|---|")
    for name, value, source in aws.rows():
        print(f"| {name} | {value:g} | {source} |")
    print(f"| status-read interval (drainPollIntervalSeconds) | {STATUS_READ_SECONDS:g} | this project's default |")
    print(
        f"| on-instance check interval, zero checks to drain | {wait_script.CHECK_INTERVAL_SECONDS:g}, "
        f"{wait_script.ZERO_CHECKS_TO_DRAIN} | drain.wait_script |"
    )
    budget = 1.0 - (local_new + STATUS_READ_SECONDS / 2 + 2 * aws.api_call)
    print(
        f"\nGoal <= 1 s (modelled) holds while the SSM report latency stays <= {budget:.2f} s with these figures; "
        f"at drainPollIntervalSeconds 0.2 the budget is {budget + (STATUS_READ_SECONDS - 0.2) / 2:.2f} s."
    )
    print(
        f"\ncold import of drain.handler over {len(imports)} fresh interpreters (boto3 included): "
        f"median {median(imports) * 1000:.0f} ms"
    )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--imports", type=int, default=5)
    parser.add_argument("--api-call", type=float, default=0.1, help="seconds per AWS API call (assumption)")
    parser.add_argument("--ssm-delivery", type=float, default=1.0, help="SendCommand -> running (assumption)")
    parser.add_argument("--ssm-report", type=float, default=0.5, help="script end -> Success readable (assumption)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("curl", "ss", "sh") if not shutil.which(tool)]
    if missing:
        print(f"needs {', '.join(missing)} on PATH", file=sys.stderr)
        return 2
    aws = AwsLatency(api_call=args.api_call, ssm_delivery=args.ssm_delivery, ssm_report=args.ssm_report)
    connection_bound = max(SLOW_REQUEST_MS) / 1000 + CONNECTION_BOUND_AFTER_LAST_SECONDS
    in_flight: list[Round] = []
    connections: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp, sample_app(Path(tmp)) as port:
        for _ in range(args.runs):
            in_flight.append(drain_round(port, DEFAULT_DRAIN_IN_FLIGHT_COMMAND, bound_seconds=30.0))
            connections.append(drain_round(port, CONNECTION_COUNT_COMMAND, bound_seconds=connection_bound))
    figures = report(in_flight, connections, aws, import_times(args.imports))
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
