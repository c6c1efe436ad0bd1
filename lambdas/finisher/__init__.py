"""The AWS-side finisher: completes a release whose runner died (README, "If the runner dies").

Its asset holds this package and `bluegreen` (the shared finish steps and release lease), nothing else.
"""
