"""Writes a table's rows into batch files by received_at, deterministically.

Why: landing appends files in name order, and a batch is a window of received_at, so a late row lands in
a later batch than its neighbours, like real late data. Rows are sorted by received_at (stable, so a
duplicate injected after its original stays after it when both arrive at the same instant) and written
with fixed Parquet settings and no wall-clock metadata, so the same parameters give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sample_business.schema import SCHEMAS

ROW_GROUP_SIZE = 256 * 1024
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1


def file_name(batch: int, part: int | None) -> str:
    """batch_0001.parquet, or batch_0001_part_003.parquet when a run writes several files per batch."""
    return f"batch_{batch + 1:04d}.parquet" if part is None else f"batch_{batch + 1:04d}_part_{part:03d}.parquet"


def batch_numbers(received_at: np.ndarray, period_start: int, as_of: int, batches: int) -> np.ndarray:
    """0-based batch of each row: equal windows of received_at over the period (earlier rows in the first)."""
    window = (as_of - period_start) / batches
    return np.clip(np.floor((received_at - period_start) / window), 0, batches - 1).astype(np.int64)


def write_batches(
    table: pa.Table, name: str, raw_dir: Path, part: int | None, period_start: int, as_of: int, batches: int
) -> list[tuple[str, int]]:
    """Write `table` (valid rows first, then injected ones) to raw/<name>/; returns (path, rows) per file."""
    schema = SCHEMAS[name]
    table = table.select(schema.names).cast(schema)
    table = table.take(pc.sort_indices(table, sort_keys=[("received_at", "ascending")]))
    received = table["received_at"].to_numpy().astype(np.int64)
    bounds = np.searchsorted(batch_numbers(received, period_start, as_of, batches), np.arange(batches + 1))
    folder = raw_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for batch in range(batches):
        low, high = bounds[batch], bounds[batch + 1]
        if high == low:
            continue
        path = folder / file_name(batch, part)
        pq.write_table(
            table.slice(low, high - low),
            path,
            row_group_size=ROW_GROUP_SIZE,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
        )
        written.append((f"raw/{name}/{path.name}", int(high - low)))
    return written
