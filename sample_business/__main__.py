"""CLI: python -m sample_business --data-dir data --customers 10000 --seed 42 [--batches N] [--if-absent]."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from sample_business.generator import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_business", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="output folder (default: data)")
    parser.add_argument("--customers", type=int, default=10_000, help="number of customers (default: 10000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batches", type=int, default=1, help="received_at windows, one file set each")
    parser.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        default=datetime(2026, 11, 1),
        help="end of the generated history, UTC (default: 2026-11-01)",
    )
    parser.add_argument("--days", type=int, default=180, help="length of the history in days (default: 180)")
    parser.add_argument("--malformed-rate", type=float, default=0.002)
    parser.add_argument("--late-rate", type=float, default=0.01)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    parser.add_argument(
        "--if-absent", action="store_true", help="do nothing if <data-dir>/raw already has Parquet files"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    summary = generate(
        args.data_dir,
        n_customers=args.customers,
        seed=args.seed,
        as_of=args.as_of,
        days=args.days,
        batches=args.batches,
        malformed_rate=args.malformed_rate,
        late_rate=args.late_rate,
        if_absent=args.if_absent,
        workers=args.workers,
    )
    print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
