"""Tests of the drain Lambda (`lambdas/drain`)."""
