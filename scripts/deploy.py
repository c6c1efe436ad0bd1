#!/usr/bin/env python3
"""Release tool for zero-downtime EC2 blue/green releases on AWS CodeDeploy (see `--help` and docs/pipelines.md).

A thin entry point: the tool is the `release` package (scripts/release/, installed by `make setup`), and
`release.cli.main` documents its commands, environment variables and exit codes. The same `main` is installed as the
`bluegreen-release` console script.
"""

from __future__ import annotations

import sys

from release.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
