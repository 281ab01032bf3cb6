"""Benchmark: generate 100k customers into a temporary folder; fails (exit 1) above 60 seconds.

Run with `make bench` or `.venv/bin/python tests/benchmarks/bench_generator.py [--customers N] [--keep DIR]`.
Not collected by pytest (the file name does not start with test_).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

from sample_business import generate

BUDGET_SECONDS = 60.0


def peak_rss_mb() -> float:
    """Largest resident set of this process and of its largest worker process (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--budget", type=float, default=BUDGET_SECONDS, help="seconds allowed")
    parser.add_argument("--keep", type=Path, default=None, help="write here instead of a temporary folder")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_generator_") as tmp:
        summary = generate(args.keep or Path(tmp), n_customers=args.customers)
    rows = summary.total_rows
    print(f"customers       {args.customers:,}")
    print(f"seconds         {summary.seconds:.1f}   (budget {args.budget:.0f})")
    print(f"rows            {rows:,}   (events {summary.rows['events']:,})")
    print(f"rows/s          {rows / summary.seconds:,.0f}")
    print(f"peak RSS        {peak_rss_mb():,.0f} MB (largest single process)")
    if summary.seconds > args.budget:
        print(f"FAIL: {summary.seconds:.1f} s is over the {args.budget:.0f} s budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
