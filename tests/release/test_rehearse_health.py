"""When the rehearsal says a load balancer would put the app in service (docs/decisions.md F85)."""

from __future__ import annotations

from release.rehearse.model import HealthCheckSettings, HealthResult, Probe

SETTINGS = HealthCheckSettings(
    path="/health", port=8080, matcher="200", interval_seconds=5, timeout_seconds=2, healthy_threshold=3
)


def _health(*passes: bool) -> HealthResult:
    probes = tuple(
        Probe(5.0 * index, ok, "HTTP 200" if ok else "connection refused") for index, ok in enumerate(passes)
    )
    healthy = len(passes) >= 3 and all(passes[-3:])
    return HealthResult(healthy, probes[-1].at_seconds if healthy else None, probes, SETTINGS)


def test_a_new_target_counts_as_healthy_from_the_first_probe_of_its_last_passing_run() -> None:
    # Given an app that answered once, failed, then passed three times in a row (the threshold)
    health = _health(False, True, False, True, True, True)
    # Then a load balancer would have put it in service at the fourth probe (one pass for a new target), 15 s in
    assert health.seconds_to_first_pass == 15.0
    assert health.seconds_to_healthy == 25.0


def test_an_app_that_never_passed_has_no_first_pass() -> None:
    assert _health(False, False).seconds_to_first_pass is None
    assert _health(True, False).seconds_to_first_pass is None
