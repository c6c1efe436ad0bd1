"""The drain's instance side against the real sample app on loopback: the in-flight signal ends the wait after the
last response while idle keep-alive connections stay open; counting established connections does not.

The wait is the very script the drain Lambda sends through SSM (`drain.wait_script`), run here with `sh`, and the
check is the default `drainInFlightCommand`. Behaviour only: no assertion on how long anything takes.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from drain import wait_script
from drain.decision import InstanceWait

from bluegreen.config import DEFAULT_DRAIN_IN_FLIGHT_COMMAND
from tests.sample_app.test_server import RunningApp, concurrent_slow_requests, get, keepalive_connection, start_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("curl"), reason="the default in-flight check uses curl"),
]

CONNECTION_COUNT_COMMAND = "ss -Htn state established '( sport = :{port} )' | wc -l"
IDLE_CONNECTIONS = 4
SLOW_REQUESTS = 2
# Bounds for the on-instance wait: generous, so a slow machine cannot turn "drained" into "bound".
WAIT_BOUND_SECONDS = 20.0


def run_wait(command: str, port: int, bound_seconds: float) -> InstanceWait:
    """Run the drain's on-instance wait for `command` (with {port} filled in) and parse how it ended."""
    script = wait_script.render(command.replace("{port}", str(port)), bound_seconds)
    result = subprocess.run(
        ["sh", "-c", script], check=False, capture_output=True, text=True, timeout=bound_seconds + 10
    )
    assert result.returncode == 0, result.stderr
    return wait_script.parse(result.stdout)


@pytest.fixture
def busy_app(tmp_path: Path) -> Iterator[tuple[RunningApp, list[http.client.HTTPConnection]]]:
    """The sample app holding idle keep-alive connections, like those of a load balancer."""
    running = start_app(tmp_path)
    idle: list[http.client.HTTPConnection] = []
    try:
        idle = [keepalive_connection(running.port) for _ in range(IDLE_CONNECTIONS)]
        yield running, idle
    finally:
        for connection in idle:
            connection.close()
        running.process.kill()
        running.process.wait()


def test_the_in_flight_check_reports_drained_after_the_last_response_while_idle_connections_stay_open(
    busy_app: tuple[RunningApp, list[http.client.HTTPConnection]],
) -> None:
    # Given slow requests in flight next to idle keep-alive connections
    app, idle = busy_app
    threads, outcomes = concurrent_slow_requests(app.port, count=SLOW_REQUESTS, ms=1500)
    assert get(app.port, "/in-flight") == (200, f"{SLOW_REQUESTS}\n".encode())

    # When the drain waits on the instance with the default check
    result = run_wait(DEFAULT_DRAIN_IN_FLIGHT_COMMAND, app.port, WAIT_BOUND_SECONDS)

    # Then it reports drained once the count fell to 0, which happens only as the last response is written: it saw
    # requests in flight first, every request was answered, and the idle connections are still open
    assert result.drained
    assert result.in_flight == 0
    assert result.checks > wait_script.ZERO_CHECKS_TO_DRAIN
    for thread in threads:
        thread.join(30)
    assert outcomes == [200] * SLOW_REQUESTS
    for connection in idle:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200


@pytest.mark.skipif(not shutil.which("ss"), reason="the connection-count check uses ss (iproute2)")
def test_the_connection_count_check_never_reports_drained_while_idle_connections_stay_open(
    busy_app: tuple[RunningApp, list[http.client.HTTPConnection]],
) -> None:
    # Given no request in flight at all, only idle keep-alive connections
    app, _ = busy_app

    # When the drain waits on the instance with the former default, counting established connections (short bound)
    result = run_wait(CONNECTION_COUNT_COMMAND, app.port, bound_seconds=1.0)

    # Then it never reports drained: the idle connections count, and the wait ends at its bound
    assert not result.drained
    assert result.in_flight >= IDLE_CONNECTIONS
    # ... while the in-flight check, asked at the same moment, reports drained
    assert run_wait(DEFAULT_DRAIN_IN_FLIGHT_COMMAND, app.port, WAIT_BOUND_SECONDS).drained
