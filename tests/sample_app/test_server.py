"""The sample app's HTTP contract and its graceful shutdown, exercised on loopback with a real process."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "sample-app" / "app" / "server.py"
# Bounds, not expectations: a healthy machine needs a fraction of these.
START_BOUND_SECONDS = 10.0
EXIT_BOUND_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class RunningApp:
    process: subprocess.Popen[bytes]
    port: int
    pid_file: Path

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(EXIT_BOUND_SECONDS)


def start_app(tmp_path: Path, **env: str) -> RunningApp:
    port = free_port()
    pid_file = tmp_path / "app.pid"
    (tmp_path / "REVISION").write_text(json.dumps({"revision": "abc123", "deployment_id": "d-TEST"}))
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "SAMPLE_APP_PORT": str(port),
        "SAMPLE_APP_BIND": "127.0.0.1",
        "SAMPLE_APP_ROOT": str(tmp_path),
        "SAMPLE_APP_PID_FILE": str(pid_file),
        **env,
    }
    log = (tmp_path / "app.log").open("wb")
    process = subprocess.Popen([sys.executable, str(SERVER)], env=environment, stdout=log, stderr=log)
    deadline = time.monotonic() + START_BOUND_SECONDS
    while not pid_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the app did not start: {(tmp_path / 'app.log').read_text()}")
        time.sleep(0.02)
    return RunningApp(process, port, pid_file)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RunningApp]:
    running = start_app(tmp_path)
    wait_healthy(running.port)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + START_BOUND_SECONDS
    while time.monotonic() < deadline:
        try:
            if get(port, "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.02)
    pytest.fail("the app never answered 200 on /health")


def concurrent_slow_requests(port: int, count: int, ms: int) -> tuple[list[threading.Thread], list[object]]:
    """Start `count` requests to /slow; each thread leaves its status code, or the exception, in `outcomes`."""
    outcomes: list[object] = [None] * count
    sent = [threading.Event() for _ in range(count)]

    def one(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", f"/slow?ms={ms}")
            sent[index].set()
            response = connection.getresponse()
            response.read()
            outcomes[index] = response.status
        except (OSError, http.client.HTTPException) as exc:
            outcomes[index] = exc
        finally:
            sent[index].set()
            connection.close()

    threads = [threading.Thread(target=one, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for event in sent:
        event.wait(10)
    return threads, outcomes


@pytest.mark.slow
def test_health_answers_503_until_the_app_has_warmed_up(tmp_path: Path) -> None:
    running = start_app(tmp_path, SAMPLE_APP_WARMUP_SECONDS="60")
    try:
        status, body = get(running.port, "/health")
    finally:
        exit_code = running.stop()

    assert (status, body) == (503, b"starting\n")
    assert exit_code == 0


@pytest.mark.slow
def test_version_serves_the_installed_revision(app: RunningApp) -> None:
    status, body = get(app.port, "/version")

    assert status == 200
    assert json.loads(body) == {"revision": "abc123", "deployment_id": "d-TEST"}


@pytest.mark.slow
def test_slow_refuses_a_malformed_duration(app: RunningApp) -> None:
    assert get(app.port, "/slow?ms=soon")[0] == 400


@pytest.mark.slow
def test_sigterm_lets_every_in_flight_request_finish_then_exits_0(app: RunningApp) -> None:
    threads, outcomes = concurrent_slow_requests(app.port, count=16, ms=1000)
    time.sleep(0.3)  # let the server accept every connection; the requests still have ~0.7 s to run

    exit_code = app.stop()
    for thread in threads:
        thread.join(30)

    assert outcomes == [200] * 16, "every request in flight at SIGTERM must complete"
    assert exit_code == 0


@pytest.mark.slow
def test_after_sigterm_new_connections_are_refused_while_in_flight_requests_finish(app: RunningApp) -> None:
    threads, outcomes = concurrent_slow_requests(app.port, count=2, ms=2000)
    time.sleep(0.3)

    app.process.send_signal(signal.SIGTERM)
    refused = False
    for _ in range(100):  # the listening socket closes within the accept loop's poll interval
        try:
            get(app.port, "/health", timeout=1)
        except ConnectionRefusedError:
            refused = True
            break
        except ConnectionResetError:
            pass  # queued in the backlog just before the listening socket closed; the next attempt is refused
        time.sleep(0.02)
    assert app.process.wait(EXIT_BOUND_SECONDS) == 0
    for thread in threads:
        thread.join(30)

    assert refused
    assert outcomes == [200, 200]
    assert not app.pid_file.exists(), "the app removes its pid file on exit"


@pytest.mark.slow
def test_the_drain_timeout_bounds_shutdown_and_the_exit_code_says_requests_were_cut(tmp_path: Path) -> None:
    running = start_app(tmp_path, SAMPLE_APP_DRAIN_TIMEOUT="0.5")
    wait_healthy(running.port)
    threads, outcomes = concurrent_slow_requests(running.port, count=1, ms=60_000)
    time.sleep(0.3)

    exit_code = running.stop()
    for thread in threads:
        thread.join(30)

    assert exit_code == 1
    assert isinstance(outcomes[0], Exception)
    assert "drain timeout" in (tmp_path / "app.log").read_text()


def keepalive_connection(port: int) -> http.client.HTTPConnection:
    """A connection that made one request and stays open, idle, as the load balancer keeps its connections."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/health")
    response = connection.getresponse()
    response.read()
    assert response.getheader("Connection") != "close"
    return connection


@pytest.mark.slow
def test_a_connection_stays_open_between_requests(app: RunningApp) -> None:
    # Given a connection that has made one request
    connection = keepalive_connection(app.port)
    try:
        # When it makes a second one, Then the same connection answers it
        sock = connection.sock
        connection.request("GET", "/version")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
        assert connection.sock is sock
    finally:
        connection.close()


@pytest.mark.slow
def test_in_flight_counts_requests_not_idle_connections(app: RunningApp) -> None:
    # Given three idle keep-alive connections and two slow requests in flight
    idle = [keepalive_connection(app.port) for _ in range(3)]
    threads, outcomes = concurrent_slow_requests(app.port, count=2, ms=1500)
    time.sleep(0.3)
    try:
        # When the in-flight count is read from the instance itself, Then it counts the two requests only
        assert get(app.port, "/in-flight") == (200, b"2\n")
        for thread in threads:
            thread.join(30)
        # ... and once they are answered, 0, although the idle connections are still open
        assert outcomes == [200, 200]
        assert get(app.port, "/in-flight") == (200, b"0\n")
    finally:
        for connection in idle:
            connection.close()


@pytest.mark.parametrize(
    ("peer", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.1.23", False),
        ("::ffff:10.0.1.23", False),
        ("fe80::1%eth0", False),
        ("not-an-address", False),
    ],
)
def test_only_a_loopback_peer_may_read_the_in_flight_count(peer: str, local: bool) -> None:
    # Given the address of the peer of a connection (the load balancer's is a VPC address, never loopback)
    # The sample app's module (standard library only), loaded from its file: the revision is not a package.
    spec = importlib.util.spec_from_file_location("sample_app_server", SERVER)
    assert spec is not None and spec.loader is not None
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)

    # When the app decides whether to answer /in-flight, Then only a process on the instance itself is answered
    assert server.is_loopback(peer) is local


@pytest.mark.slow
def test_sigterm_does_not_wait_for_idle_keepalive_connections(app: RunningApp) -> None:
    # Given an idle keep-alive connection (the app would keep it open for 65 s)
    connection = keepalive_connection(app.port)
    try:
        # When the app is stopped, Then it exits at once and cleanly: nothing is in flight
        started = time.monotonic()
        assert app.stop() == 0
        assert time.monotonic() - started < EXIT_BOUND_SECONDS
    finally:
        connection.close()
