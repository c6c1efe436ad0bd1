"""Which deflate library and level the bundle uses: throughput and ratio on three kinds of revision content.

Measures zlib (the standard library), zlib-ng and ISA-L (`isal`) at the levels that matter, single-threaded, as raw
deflate (what a zip member holds), on: the bundle benchmark's text (repetitive words), Python sources (botocore, from
this virtualenv) and JavaScript (node_modules). Libraries that are not installed are skipped. Prints the median of
`--runs` runs, in MB per CPU second of this thread (`time.thread_time`): on a machine shared with other work the wall
clock measures the neighbours, the thread's CPU time measures the compressor. The level in `release.zipwriter` was
chosen from this table (docs/performance.md).

Usage: .venv/bin/python benchmarks/compression_levels.py [--mb 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORDS = b"release bundle upload deploy slot blue green instance lifecycle hook drain traffic ".split()


def corpora(size: int) -> dict[str, bytes]:
    """The three kinds of content, each cut to `size` bytes (or less when the checkout has less)."""
    rng = random.Random(1)
    text = b" ".join(rng.choice(WORDS) for _ in range(size // 6 + 1))[:size]
    python = b"".join(p.read_bytes() for p in sorted(REPO.glob(".venv/lib/python3*/site-packages/botocore/**/*.py")))
    javascript = b"".join(p.read_bytes() for p in sorted(REPO.glob("node_modules/**/*.js"))[:5000])
    return {"benchmark text": text, "python sources": python[:size], "javascript": javascript[:size]}


def compressors() -> dict[str, Callable[[bytes], bytes]]:
    """Raw-deflate one-shot compressors by 'library level'."""
    found: dict[str, Callable[[bytes], bytes]] = {}
    for level in (1, 6, 9):
        found[f"zlib {level}"] = lambda data, level=level: zlib.compress(data, level, -15)
    for module, name, levels in (("zlib_ng.zlib_ng", "zlib-ng", (1, 6)), ("isal.isal_zlib", "isal", (0, 1, 2, 3))):
        try:
            library = importlib.import_module(module)
        except ImportError:
            print(f"({name} is not installed: skipped)")
            continue
        for level in levels:
            found[f"{name} {level}"] = lambda data, level=level, library=library: library.compress(data, level, -15)
    return found


def main(argv: list[str] | None = None) -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=20, help="MB of each kind of content (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; medians are printed (default 3)")
    args = parser.parse_args(argv)
    libraries = compressors()
    for label, data in corpora(args.mb * 1_000_000).items():
        print(f"{label}: {len(data) / 1e6:.1f} MB")
        for name, compress in libraries.items():
            seconds = []
            for _ in range(args.runs):
                started = time.thread_time()
                size = len(compress(data))
                seconds.append(time.thread_time() - started)
            speed = len(data) / statistics.median(seconds) / 1e6
            print(f"  {name:<10} {speed:7.0f} MB/CPU-s  ratio {size / len(data):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
