"""When the rehearsal says a load balancer would put the app in service (docs/decisions.md F85)."""

from __future__ import annotations

from release.rehearse.model import HealthCheckSettings, HealthResult, Probe

SETTINGS = HealthCheckSettings(
    path="/health", port=8080, matcher="200", interval_seconds=5, timeout_seconds=2, healthy_threshold=3
)


def _health(*passes: bool) -> HealthResult:
    probes = tuple(Probe(5.0 * index, ok, "HTTP 200" if ok else "HTTP 503") for index, ok in enumerate(passes))
    healthy = len(passes) >= 3 and all(passes[-3:])
    return HealthResult(healthy, probes[-1].at_seconds if healthy else None, probes, SETTINGS)


def test_a_new_target_is_in_service_from_its_first_passing_probe_even_if_it_fails_later() -> None:
    # Given an app that failed once, answered, failed again, then passed three times in a row (the threshold)
    health = _health(False, True, False, True, True, True)
    # Then a load balancer would have put it in service at the second probe (one pass for a new target), 5 s in,
    # and sent requests to it while the third probe failed
    assert health.seconds_to_first_pass == 5.0
    assert [probe.at_seconds for probe in health.failed_after_first_pass] == [10.0]
    assert health.seconds_to_healthy == 25.0


def test_an_app_that_passes_steadily_from_its_first_pass_has_no_failure_after_it() -> None:
    health = _health(False, False, True, True, True)
    assert (health.seconds_to_first_pass, health.failed_after_first_pass) == (10.0, ())


def test_an_app_that_never_passed_has_no_first_pass() -> None:
    health = _health(False, False)
    assert (health.seconds_to_first_pass, health.failed_after_first_pass) == (None, ())
