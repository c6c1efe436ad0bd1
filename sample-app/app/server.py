#!/usr/bin/env python3
"""The sample application: a tiny HTTP service that drains gracefully, standard library only.

Endpoints:
  GET /health   200 "ok" once the app is ready, 503 while it warms up or drains (the target group's health check)
  GET /version  the installed revision as JSON (read from $SAMPLE_APP_ROOT/REVISION, written by AfterInstall)
  GET /slow?ms=N  answers after N milliseconds (at most 60 000): an in-flight request for drain tests
  GET /in-flight  the number of requests in flight, as plain text: the drain's signal (docs/drain.md). Answered
                only to a loopback peer (127.0.0.0/8, ::1), so only a process on the instance itself can read it;
                anyone else, the load balancer included, gets the same 404 as for any unknown path. It does not count
                itself.
  GET /         a one-line greeting with the revision

Keep-alive, as AWS advises for targets of an Application Load Balancer: HTTP/1.1 persistent connections stay open
while idle for SAMPLE_APP_KEEPALIVE_SECONDS (65), longer than the load balancer's idle timeout (60 s by default), so
the load balancer, not the app, closes an idle connection and never sends a request into one the app is closing
(ELB guide, "Connection idle timeout"; a 502 otherwise). An idle connection is therefore normal and says nothing
about the app being busy: a request is in flight from the moment its request line and headers are read until its
response is written.

Graceful shutdown: on SIGTERM (what systemd sends when the instance shuts down or the unit stops) the app reports
unhealthy, closes its listening socket so no new connection is accepted, answers every further request with
`Connection: close`, lets every request in flight finish, then exits 0 (idle keep-alive connections close with the
process). If requests are still running after the drain timeout it exits 1 and says how many were cut.

Settings (environment): SAMPLE_APP_PORT (8080), SAMPLE_APP_BIND (0.0.0.0), SAMPLE_APP_ROOT (/opt/sample-app),
SAMPLE_APP_DRAIN_TIMEOUT seconds (20), SAMPLE_APP_KEEPALIVE_SECONDS (65), SAMPLE_APP_WARMUP_SECONDS (0),
SAMPLE_APP_PID_FILE (none), SAMPLE_APP_REVISION (overrides the REVISION file).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from urllib.parse import parse_qs, urlsplit

MAX_SLOW_MS = 60_000
IN_FLIGHT_PATH = "/in-flight"
# Longer than the Application Load Balancer's default idle timeout (60 s): the load balancer closes idle connections.
DEFAULT_KEEPALIVE_SECONDS = 65.0


def log(message: str) -> None:
    """One line on stderr (journald keeps it on the instance; the rehearsal keeps it in its sandbox)."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} sample-app[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


class App:
    """State shared by the request handlers: readiness, draining, in-flight count."""

    def __init__(self, revision: dict[str, str]) -> None:
        self.revision = revision
        self.ready = threading.Event()
        self.draining = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()

    @property
    def in_flight(self) -> int:
        """Requests read and not yet answered."""
        with self._idle:
            return self._in_flight

    def request_started(self) -> None:
        with self._idle:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> int:
        """Wait until no request is in flight or `timeout` passed; return how many are still in flight."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
            return self._in_flight


def is_loopback(host: str) -> bool:
    """True for a peer address on this host itself (127.0.0.0/8, ::1, or 127.x mapped into IPv6)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class Server(ThreadingHTTPServer):
    """A threading server whose connections stay open between requests for `keepalive_seconds`."""

    # Handler threads must not keep the process alive after the drain timeout: the bound is ours, not the threads'.
    # Threads that only hold an idle keep-alive connection end with the process, which closes their connections.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], app: App, keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS
    ) -> None:
        self.app = app
        self.keepalive_seconds = keepalive_seconds
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    """The endpoints, on HTTP/1.1 persistent connections; counts each request while it is in flight."""

    server: Server
    protocol_version = "HTTP/1.1"
    server_version = "sample-app"
    _counted = False

    def setup(self) -> None:
        super().setup()
        # The socket timeout is the keep-alive timeout: how long a connection may wait for its next request
        # (http.server closes the connection when a read times out).
        self.connection.settimeout(self.server.keepalive_seconds)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            # After the response has been written and flushed (the base class flushes before returning).
            if self._counted:
                self._counted = False
                self.server.app.request_finished()

    def parse_request(self) -> bool:
        # Called as soon as the request line has been read: from here until its response is written the request is
        # in flight. The drain's own reading of the count is not counted, so it can read 0.
        parsed = super().parse_request()
        if parsed and urlsplit(self.path).path != IN_FLIGHT_PATH:
            self.server.app.request_started()
            self._counted = True
        return parsed

    def do_GET(self) -> None:  # the name http.server dispatches to
        url = urlsplit(self.path)
        app = self.server.app
        if url.path == "/health":
            if app.ready.is_set() and not app.draining.is_set():
                self._send(200, "text/plain", b"ok\n")
            else:
                self._send(503, "text/plain", b"draining\n" if app.draining.is_set() else b"starting\n")
        elif url.path == "/version":
            self._send(200, "application/json", json.dumps(app.revision, sort_keys=True).encode() + b"\n")
        elif url.path == "/slow":
            try:
                milliseconds = min(max(int(parse_qs(url.query).get("ms", ["1000"])[0]), 0), MAX_SLOW_MS)
            except ValueError:
                self._send(400, "text/plain", b"ms must be a whole number of milliseconds\n")
                return
            time.sleep(milliseconds / 1000)
            self._send(200, "application/json", json.dumps({"slept_ms": milliseconds}).encode() + b"\n")
        elif url.path == IN_FLIGHT_PATH and is_loopback(self.client_address[0]):
            self._send(200, "text/plain", f"{app.in_flight}\n".encode())
        elif url.path == "/":
            text = f"Hello from the sample app, revision {app.revision.get('revision', 'unknown')}\n"
            self._send(200, "text/plain", text.encode())
        else:
            self._send(404, "text/plain", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.server.app.draining.is_set():
            # Shutting down: no further request on this connection (send_header also sets close_connection).
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # signature of the base class
        log(f"{self.address_string()} {format % args}")


def read_revision(root: Path) -> dict[str, str]:
    """The revision description: SAMPLE_APP_REVISION if set, else the REVISION file AfterInstall wrote."""
    override = os.environ.get("SAMPLE_APP_REVISION")
    if override:
        return {"revision": override}
    path = root / "REVISION"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log(f"no readable revision file at {path} ({exc}); /version will say 'unknown'")
        return {"revision": "unknown"}
    return {str(key): str(value) for key, value in data.items()}


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain; the exit code says whether every request finished."""
    port = int(os.environ.get("SAMPLE_APP_PORT", "8080"))
    bind = os.environ.get("SAMPLE_APP_BIND", "0.0.0.0")  # noqa: S104 - the load balancer reaches the instance's IP
    root = Path(os.environ.get("SAMPLE_APP_ROOT", "/opt/sample-app"))
    drain_timeout = float(os.environ.get("SAMPLE_APP_DRAIN_TIMEOUT", "20"))
    keepalive = float(os.environ.get("SAMPLE_APP_KEEPALIVE_SECONDS", str(DEFAULT_KEEPALIVE_SECONDS)))
    warmup = float(os.environ.get("SAMPLE_APP_WARMUP_SECONDS", "0"))
    pid_file = os.environ.get("SAMPLE_APP_PID_FILE")

    app = App(read_revision(root))
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log(f"received {signal.Signals(signum).name}: draining")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = Server((bind, port), app, keepalive)
    if pid_file:
        Path(pid_file).write_text(f"{os.getpid()}\n", encoding="utf-8")
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="accept")
    serving.start()
    log(f"listening on {bind}:{port}, revision {app.revision.get('revision', 'unknown')}")

    def warm_up() -> None:
        # Stands in for real start-up work (caches, connection pools): /health says 503 until it is done, so the
        # target group only sends traffic to a process that can serve it.
        time.sleep(warmup)
        if not stop.is_set():
            app.ready.set()
            log("ready")

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()

    # The main thread only waits, so the signal handler never runs inside serve_forever's lock.
    while not stop.wait(0.5):
        pass

    app.draining.set()
    # Stop the accept loop, then close the listening socket: new connections are refused from here on, while the
    # connections already accepted keep their handler threads until their request in flight is answered.
    server.shutdown()
    serving.join()
    server.socket.close()
    left = app.wait_idle(drain_timeout)
    if pid_file:
        Path(pid_file).unlink(missing_ok=True)
    if left:
        log(f"drain timeout ({drain_timeout:g} s) passed with {left} request(s) still running; exiting anyway")
        return 1
    log("drained: every accepted request finished; exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
