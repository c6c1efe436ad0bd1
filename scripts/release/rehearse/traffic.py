"""Traffic against the app: AllowTraffic (probing it like the target group's health check) and the shutdown (SIGTERM
while requests are in flight)."""

from __future__ import annotations

import http.client
import signal
import threading
import time
from dataclasses import dataclass, field

from release.rehearse.model import (
    LANE_BLUE,
    LANE_GREEN,
    EventResult,
    HealthCheckSettings,
    HealthResult,
    Probe,
    ShutdownResult,
)
from release.rehearse.state import RunState, StepFailed, now

# Upper bound of --shutdown-requests: the shutdown sends one bounded wave of concurrent requests (loopback only).
MAX_SHUTDOWN_REQUESTS = 64


# ---------------------------------------------------------------------------------------------------------------------
# AllowTraffic: the target group's health check
# ---------------------------------------------------------------------------------------------------------------------


def _probe(settings: HealthCheckSettings, path: str | None = None) -> tuple[bool, str]:
    """One health check as the load balancer makes it: a GET with the per-probe timeout, no redirect followed."""
    connection = http.client.HTTPConnection("127.0.0.1", settings.port, timeout=settings.timeout_seconds)
    try:
        connection.request("GET", path or settings.path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
        response = connection.getresponse()
        response.read()
    except TimeoutError:
        return False, f"no answer within the {settings.timeout_seconds:g} s timeout"
    except ConnectionRefusedError:
        return False, "connection refused"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    ok = settings.matches(response.status)
    return ok, f"HTTP {response.status}" + ("" if ok else f" (matcher {settings.matcher})")


def allow_traffic(run: RunState) -> None:
    settings = run.options.health_check
    start = now()
    run.say(f"AllowTraffic: probing like the target group ({settings.describe()})")
    origin = time.monotonic()
    probes: list[Probe] = []
    streak = 0
    index = 0
    healthy_at: float | None = None
    while True:
        # Probes start at registration and follow the interval, whatever each probe took (as the ALB schedules them).
        due = origin + index * settings.interval_seconds
        if due - origin > run.options.healthy_within_seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        ok, detail = _probe(settings)
        probes.append(Probe(round(time.monotonic() - origin, 3), ok, detail))
        streak = streak + 1 if ok else 0
        if streak >= settings.healthy_threshold:
            healthy_at = time.monotonic() - origin
            break
        index += 1
    run.health = HealthResult(healthy_at is not None, healthy_at, tuple(probes), settings)
    if healthy_at is None:
        last = probes[-1].detail if probes else "no probe made"
        message = (
            f"the target never became healthy: {len(probes)} probes in {run.options.healthy_within_seconds:g} s "
            f"({settings.describe()}); last probe: {last}"
        )
        run.record(EventResult("AllowTraffic", LANE_GREEN, "Failed", start, now(), message=message))
        run.say(f"AllowTraffic: FAILED: {message}")
        raise StepFailed
    message = f"healthy after {healthy_at:.2f} s ({len(probes)} probes)"
    run.record(EventResult("AllowTraffic", LANE_GREEN, "Succeeded", start, now(), message=message))
    run.say(f"AllowTraffic: {message}")
    if flapped := run.health.failed_after_first_pass:
        # A load balancer puts a new target in service at its first passing check (docs/decisions.md F85), so these
        # failures would have met real requests.
        run.risks.append(
            f"the health check passed at {run.health.seconds_to_first_pass:.2f} s, then failed {len(flapped)} "
            f"probe(s) ({', '.join(f'{p.at_seconds:.2f} s: {p.detail}' for p in flapped)}): a load balancer puts a "
            "new target in service at its first passing check (F85), so it would have sent requests to an app "
            f"that was not ready; answer {settings.path} with success only once the app serves"
        )


# ---------------------------------------------------------------------------------------------------------------------
# Shutdown: SIGTERM under in-flight load
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    sent: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    error: str | None = None


def _send(port: int, path: str, timeout: float, request: _Request) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        request.sent.set()
        response = connection.getresponse()
        response.read()
        request.status = response.status
    except (OSError, http.client.HTTPException) as exc:
        request.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        connection.close()
        request.sent.set()
        request.done.set()


def shutdown(run: RunState) -> None:
    options = run.options
    path = options.shutdown_path or options.health_check.path
    start = now()
    count = options.shutdown_requests
    run.say(f"Shutdown: {count} concurrent GET {path} in flight, then SIGTERM to the revision's processes")
    if not run.tracker.alive():
        message = "no process of the revision is running: nothing would serve traffic or receive SIGTERM"
        run.record(EventResult("Shutdown (SIGTERM)", LANE_BLUE, "Failed", start, now(), message=message))
        raise StepFailed
    # Requests time out a little after the stop timeout: by then systemd would have SIGKILLed the app.
    timeout = options.stop_timeout_seconds + 5
    requests = [_Request() for _ in range(count)]
    threads = [
        threading.Thread(target=_send, args=(options.health_check.port, path, timeout, request), daemon=True)
        for request in requests
    ]
    for thread in threads:
        thread.start()
    for request in requests:
        request.sent.wait(5)
    time.sleep(options.shutdown_settle_seconds)
    failed_early = sum(1 for request in requests if request.done.is_set() and request.error is not None)
    in_flight = sum(1 for request in requests if not request.done.is_set())
    signalled_at = time.monotonic()
    signalled = run.tracker.signal_all(signal.SIGTERM)
    exited = run.tracker.wait_gone(options.stop_timeout_seconds)
    seconds_to_exit = time.monotonic() - signalled_at if exited else None
    killed = [] if exited else run.tracker.terminate_all()
    for thread in threads:
        thread.join(timeout)
    errors = tuple(sorted({request.error for request in requests if request.error is not None}))
    lost = sum(1 for request in requests if request.status is None)
    run.shutdown = ShutdownResult(
        path=path,
        sent=count,
        in_flight_at_sigterm=in_flight,
        completed=count - lost,
        lost=lost,
        processes_signalled=signalled,
        seconds_to_exit=round(seconds_to_exit, 3) if seconds_to_exit is not None else None,
        killed=len(killed),
        errors=errors,
    )
    summary = f"{count} requests sent, {in_flight} in flight at SIGTERM, {count - lost} completed, {lost} lost; " + (
        f"the app exited {seconds_to_exit:.2f} s after SIGTERM" if exited else "the app had to be SIGKILLed"
    )
    problems = []
    if failed_early:
        problems.append(f"{failed_early} request(s) failed before SIGTERM was even sent ({', '.join(errors)})")
    elif lost:
        problems.append(f"{lost} of {count} requests in flight were lost after SIGTERM ({', '.join(errors)})")
    if not exited:
        problems.append(
            f"{len(killed)} process(es) were still running {options.stop_timeout_seconds:g} s after SIGTERM and were "
            "SIGKILLed (systemd does the same after TimeoutStopSec)"
        )
    if in_flight == 0 and not problems:
        run.notes.append(
            f"no request was still in flight when SIGTERM was sent (GET {path} answers quickly): the shutdown "
            "was not exercised under load; pass --shutdown-path with a slow endpoint (the sample app: '/slow?ms=2000')"
        )
    if problems:
        message = "; ".join(problems) + f" — {summary}"
        run.record(EventResult("Shutdown (SIGTERM)", LANE_BLUE, "Failed", start, now(), message=message))
        run.say(f"Shutdown: FAILED: {message}")
        raise StepFailed
    run.record(EventResult("Shutdown (SIGTERM)", LANE_BLUE, "Succeeded", start, now(), message=summary))
    run.say(f"Shutdown: {summary}")
