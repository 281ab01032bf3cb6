"""Runs the whole generation: catalogue, then customers chunk by chunk, then the ground truth.

Why chunks: one chunk (CHUNK_CUSTOMERS customers and their visitors) is generated, injected and written
independently of the others, from its own random streams, so memory stays bounded at any size and chunks
run in parallel worker processes; the output depends only on the parameters, never on the worker count.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sample_business.catalog import build_catalog
from sample_business.clock import LocalClock, to_micros
from sample_business.columns import format_ids
from sample_business.consent import make_consent
from sample_business.context import INJECTED_ID_BASE, UNKNOWN_CUSTOMER_BASE, ChunkContext
from sample_business.defects import KeyMinter, inject
from sample_business.effects import ANONYMOUS_VISITORS_PER_CUSTOMER, PERSONA_NAMES, effects_truth
from sample_business.erasure import ErasedPeople, make_erasure_requests
from sample_business.messaging import build_campaigns, make_messaging
from sample_business.population import MESSAGE_CHANNELS, People, make_people
from sample_business.schema import SPECS, TABLES, TableSpec
from sample_business.subscriptions import make_subscriptions
from sample_business.support import CustomerOrders, make_tickets
from sample_business.vocab import ZONES
from sample_business.web import (
    EVENT_DTYPES,
    ITEM_DTYPES,
    ORDER_DTYPES,
    events_table,
    make_web,
    orders_tables,
)
from sample_business.writer import write_batches

log = logging.getLogger("sample_business")

CHUNK_CUSTOMERS = 50_000
MAX_CHUNKS = 1000  # ids: 3 digits for the chunk number, then 9 for the number within the chunk
CHUNK_ID_CAPACITY = 1_000_000  # keeps per-chunk row numbers far below INJECTED_ID_BASE
CATALOG_STREAM = 2**31 - 1


@dataclass(frozen=True)
class RunParameters:
    data_dir: Path
    n_customers: int
    seed: int
    as_of: datetime
    days: int
    batches: int
    malformed_rate: float
    late_rate: float
    chunk_customers: int = CHUNK_CUSTOMERS

    @property
    def period_start(self) -> datetime:
        return self.as_of - timedelta(days=self.days)

    @property
    def n_chunks(self) -> int:
        return max(1, math.ceil(self.n_customers / self.chunk_customers))

    def chunk_size(self, index: int) -> int:
        return min(self.chunk_customers, self.n_customers - index * self.chunk_customers)

    def clock(self) -> LocalClock:
        first = (self.period_start - timedelta(days=400)).date()
        return LocalClock(list(ZONES), first, (self.as_of + timedelta(days=60)).date())


@dataclass
class GenerationSummary:
    """What a run wrote. `rows` counts every row written (valid + malformed) per table."""

    data_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    valid_rows: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, dict[str, int]] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    erased_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def describe(self) -> str:
        if self.skipped:
            return f"{self.data_dir / 'raw'} already has files; nothing generated (--if-absent)."
        lines = [f"{'table':<20} {'rows':>12} {'malformed':>10} {'late':>8}"]
        for table in TABLES:
            malformed = sum(self.malformed.get(table, {}).values())
            lines.append(f"{table:<20} {self.rows.get(table, 0):>12,} {malformed:>10,} {self.late.get(table, 0):>8,}")
        lines.append(f"{'total':<20} {self.total_rows:>12,}")
        lines.append(
            f"{len(self.files)} files in {self.data_dir / 'raw'}; ground truth in "
            f"{self.data_dir / 'ground_truth'}; {self.seconds:.1f} s "
            f"({self.total_rows / max(self.seconds, 1e-9):,.0f} rows/s)"
        )
        return "\n".join(lines)


@dataclass
class ChunkResult:
    valid_rows: dict[str, int]
    malformed: dict[str, dict[str, int]]
    late: dict[str, int]
    files: list[tuple[str, int]]
    customers_truth: pa.Table
    identity_truth: pa.Table
    stats: dict[str, int]
    erasure_requests: list[dict] = field(default_factory=list)
    erased_people: ErasedPeople | None = None
    # table -> {"valid": rows, <reason>: rows}: the written rows that carry a person asking for erasure
    erased_rows: dict[str, dict[str, int]] = field(default_factory=dict)


def _stack(parts: list[dict[str, np.ndarray]], dtypes: dict[str, type]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]).astype(dtype) for name, dtype in dtypes.items()}


def _customer_orders(orders: dict[str, np.ndarray], items: dict[str, np.ndarray]) -> CustomerOrders:
    numbers, first_line = np.unique(items["order"], return_index=True)
    first_product = np.zeros(len(orders["at"]), dtype=np.int64)
    first_product[numbers] = items["product"][first_line]
    return CustomerOrders(orders["customer"], orders["at"], np.arange(len(orders["at"])), first_product)


def _truth_tables(people: People, used_devices: np.ndarray) -> tuple[pa.Table, pa.Table]:
    customers = pa.table(
        {
            "customer_id": people.customer_ids,
            "persona": pa.array(np.array(PERSONA_NAMES)[people.persona].tolist(), pa.string()),
            "preferred_hour_local": pa.array(people.preferred_hour.astype(np.int32)),
            "preferred_channel": pa.array(np.array(MESSAGE_CHANNELS)[people.preferred_channel].tolist(), pa.string()),
        }
    )
    devices = people.devices
    used = np.flatnonzero(used_devices)
    owner = devices.actor[used]
    identity = pa.table(
        {
            "anonymous_id": devices.anonymous_ids.take(pa.array(used)),
            "device_id": devices.device_ids.take(pa.array(used)),
            "customer_id": people.customer_ids.take(
                pa.array(np.where(owner < people.n_customers, owner, 0), mask=owner >= people.n_customers)
            ),
        }
    )
    return customers, identity


def _chunk_tables(ctx: ChunkContext, params: RunParameters) -> tuple[dict[str, pa.Table], ChunkResult]:
    """Every valid table of one chunk, and a result holding its late-row counts and truth tables."""
    catalog = build_catalog(np.random.default_rng([params.seed, CATALOG_STREAM]), ctx.period_start)
    people = make_people(ctx)
    consent = make_consent(ctx, people)
    messaging = make_messaging(ctx, people, consent, build_campaigns(ctx.period_start, ctx.as_of))
    web = make_web(ctx, people, catalog, messaging)
    plus = make_subscriptions(ctx, people, catalog, order_offset=len(web.orders["at"]))
    orders = _stack([web.orders, plus.orders], ORDER_DTYPES)
    items = _stack([web.items, plus.items], ITEM_DTYPES)
    events = _stack([web.events, plus.events], EVENT_DTYPES)
    events_raw, events_late = events_table(ctx, people, catalog, events)
    orders_raw, orders_late, items_raw, items_late = orders_tables(ctx, people, catalog, orders, items)
    tickets = make_tickets(ctx, people, catalog, _customer_orders(orders, items))
    last_batch_start = ctx.as_of - (ctx.as_of - ctx.period_start) // params.batches
    erasure = make_erasure_requests(ctx, people, last_batch_start)

    tables = {
        "customers": people.customers_table,
        "consent_events": consent.table,
        "identifies": web.identifies,
        "sessions": web.sessions,
        "events": events_raw,
        "orders": orders_raw,
        "order_items": items_raw,
        "subscriptions": plus.table,
        "support_tickets": tickets,
        "message_engagement": messaging.table,
        "erasure_requests": erasure.table,
    }
    late = {
        "consent_events": consent.is_late,
        "identifies": web.identifies_late,
        "sessions": web.sessions_late,
        "events": events_late,
        "orders": orders_late,
        "order_items": items_late,
        "message_engagement": messaging.is_late,
    }
    used_devices = np.zeros(len(people.devices.actor), dtype=bool)
    used_devices[events["device"]] = True
    customers_truth, identity_truth = _truth_tables(people, used_devices)
    result = ChunkResult(
        {},
        {},
        {t: int(v.sum()) for t, v in late.items()},
        [],
        customers_truth,
        identity_truth,
        web.stats,
        erasure.truth,
        ErasedPeople.of(erasure, identity_truth),
    )
    return tables, result


def _inject_and_write(
    tables: dict[str, pa.Table],
    ctx_index: int,
    params: RunParameters,
    part: int | None,
    mint_key: Callable[[TableSpec], Callable[[np.ndarray], pa.StringArray]],
    mint_unknown: KeyMinter | None,
    result: ChunkResult,
) -> None:
    """Add each table's malformed rows, write its batch files and record the counts in `result`."""
    rng = np.random.default_rng([params.seed, ctx_index, 7919])
    raw_dir = params.data_dir / "raw"
    period_start, as_of = to_micros(params.period_start), to_micros(params.as_of)
    for name in list(tables):
        valid = tables.pop(name)  # frees each table once written: bounds the chunk's peak memory
        spec = SPECS[name]
        injected, counts = inject(
            spec, valid, rng, params.malformed_rate, as_of, KeyMinter(mint_key(spec)), mint_unknown
        )
        result.valid_rows[name] = valid.num_rows
        result.malformed[name] = counts
        if result.erased_people is not None:
            _count_erased_rows(result, name, valid, injected, counts)
        both = pa.concat_tables([valid.cast(injected.schema), injected])
        result.files.extend(write_batches(both, name, raw_dir, part, period_start, as_of, params.batches))


def _count_erased_rows(
    result: ChunkResult, name: str, valid: pa.Table, injected: pa.Table, counts: dict[str, int]
) -> None:
    """Rows of this table that carry a person asking for erasure, valid ones and injected ones by reason
    (inject() concatenates its rows reason by reason, in the order of `counts`)."""
    people = result.erased_people
    people.learn(valid)
    erased = {"valid": int(people.carried_by(valid).sum())}
    reasons = np.repeat(np.array(list(counts), dtype=object), list(counts.values()))
    carried = people.carried_by(injected)
    for reason in counts:
        erased[reason] = int(carried[reasons == reason].sum())
    result.erased_rows[name] = erased


def generate_chunk(params: RunParameters, index: int) -> ChunkResult:
    """Generate, inject and write one chunk of customers (runs in a worker process for big sizes)."""
    started = time.perf_counter()
    first = index * params.chunk_customers
    n = params.chunk_size(index)
    ctx = ChunkContext(
        seed=params.seed,
        index=index,
        first_customer=first,
        n_customers=n,
        n_visitors=round(ANONYMOUS_VISITORS_PER_CUSTOMER * n),
        period_start=to_micros(params.period_start),
        as_of=to_micros(params.as_of),
        late_rate=params.late_rate,
        clock=params.clock(),
    )
    tables, result = _chunk_tables(ctx, params)
    part = index if params.n_chunks > 1 else None
    _inject_and_write(
        tables,
        index,
        params,
        part,
        mint_key=lambda spec: lambda numbers: ctx.ids(spec.key_prefix, INJECTED_ID_BASE + numbers),
        mint_unknown=KeyMinter(lambda numbers: ctx.ids("cus_", UNKNOWN_CUSTOMER_BASE + numbers)),
        result=result,
    )
    log.info(
        "chunk %d/%d: %d customers, %s rows in %.1f s",
        index + 1,
        params.n_chunks,
        n,
        f"{sum(result.valid_rows.values()):,}",
        time.perf_counter() - started,
    )
    return result


def _products(params: RunParameters) -> ChunkResult:
    """The catalogue is shared by all chunks: written once, as part 0 of the first batch."""
    catalog = build_catalog(np.random.default_rng([params.seed, CATALOG_STREAM]), to_micros(params.period_start))
    result = ChunkResult({}, {}, {}, [], pa.table({}), pa.table({}), {})
    part = 0 if params.n_chunks > 1 else None
    _inject_and_write(
        {"products": catalog.table},
        CATALOG_STREAM,
        params,
        part,
        mint_key=lambda spec: lambda numbers: format_ids("prd_", 90_000 + numbers, 5),
        mint_unknown=None,
        result=result,
    )
    return result


def _clear_previous_output(data_dir: Path) -> None:
    """A run replaces the files an earlier run wrote (and only those)."""
    for table in TABLES:
        for path in (data_dir / "raw" / table).glob("batch_*.parquet"):
            path.unlink()
    for name in ("ground_truth.json", "customers_truth.parquet", "identity_truth.parquet"):
        (data_dir / "ground_truth" / name).unlink(missing_ok=True)


def _has_raw_files(data_dir: Path) -> bool:
    return any((data_dir / "raw").glob("*/*.parquet"))


def _run_chunks(params: RunParameters, workers: int) -> list[ChunkResult]:
    indices = range(params.n_chunks)
    if workers <= 1 or params.n_chunks == 1:
        return [generate_chunk(params, i) for i in indices]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(generate_chunk, [params] * params.n_chunks, indices))


def _merge(results: list[ChunkResult], summary: GenerationSummary) -> dict[str, int]:
    stats: dict[str, int] = {}
    for result in results:
        for table, n in result.valid_rows.items():
            summary.valid_rows[table] = summary.valid_rows.get(table, 0) + n
            reasons = summary.malformed.setdefault(table, dict.fromkeys(SPECS[table].reasons, 0))
            for reason, k in result.malformed[table].items():
                reasons[reason] += k
        for table, n in result.late.items():
            summary.late[table] = summary.late.get(table, 0) + n
        for path, n in result.files:
            summary.files.append(path)
            table = path.split("/")[1]
            summary.rows[table] = summary.rows.get(table, 0) + n
        for key, n in result.stats.items():
            stats[key] = stats.get(key, 0) + n
        for table, reasons in result.erased_rows.items():
            total = summary.erased_rows.setdefault(table, {})
            for reason, n in reasons.items():
                total[reason] = total.get(reason, 0) + n
    summary.files.sort()
    summary.valid_rows = {t: summary.valid_rows.get(t, 0) for t in TABLES}
    summary.rows = {t: summary.rows.get(t, 0) for t in TABLES}
    summary.late = {t: summary.late.get(t, 0) for t in TABLES}
    summary.malformed = {t: summary.malformed[t] for t in TABLES}
    return stats


def _write_ground_truth(
    params: RunParameters, summary: GenerationSummary, results: list[ChunkResult], stats: dict[str, int]
) -> None:
    folder = params.data_dir / "ground_truth"
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [r for r in results if r.customers_truth.num_columns]
    pq.write_table(
        pa.concat_tables([r.customers_truth for r in chunks]), folder / "customers_truth.parquet", compression="zstd"
    )
    pq.write_table(
        pa.concat_tables([r.identity_truth for r in chunks]), folder / "identity_truth.parquet", compression="zstd"
    )
    realized = dict(stats)
    realized["cart_abandonment_share"] = round(stats["abandoned_carts"] / max(stats["carts"], 1), 6)
    truth = {
        "generator": "sample_business",
        "parameters": {
            "n_customers": params.n_customers,
            "n_anonymous_visitors": sum(
                round(ANONYMOUS_VISITORS_PER_CUSTOMER * params.chunk_size(i)) for i in range(params.n_chunks)
            ),
            "seed": params.seed,
            "as_of": params.as_of.isoformat(),
            "period_start": params.period_start.isoformat(),
            "days": params.days,
            "batches": params.batches,
            "malformed_rate": params.malformed_rate,
            "late_rate": params.late_rate,
            "chunk_customers": params.chunk_customers,
            "chunks": params.n_chunks,
        },
        "effects": effects_truth(),
        "malformed": summary.malformed,
        "malformed_total": {t: sum(r.values()) for t, r in summary.malformed.items()},
        "late": summary.late,
        "late_definition": "valid rows with received_at at least 1 day after their event time; order_items "
        "arrive with their order (late when the order is)",
        "valid_rows": summary.valid_rows,
        "rows_written": summary.rows,
        "event_time_columns": {t: s.event_time for t, s in SPECS.items() if s.event_time},
        "files": summary.files,
        "realized": realized,
        "erasure_requests": [request for r in results for request in r.erasure_requests],
        "erased_rows": {t: {k: n for k, n in summary.erased_rows[t].items() if n} for t in summary.erased_rows},
        "erased_rows_definition": "written rows (valid, or injected by reason) carrying a customer of "
        "erasure_requests: their customer_id, one of their emails (trimmed, lower-cased), one of their anonymous "
        "or device ids (identity_truth), or one of their order ids",
    }
    (folder / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")


def generate(
    data_dir: Path | str,
    n_customers: int = 10_000,
    seed: int = 42,
    as_of: datetime = datetime(2026, 11, 1),
    days: int = 180,
    batches: int = 1,
    malformed_rate: float = 0.002,
    late_rate: float = 0.01,
    if_absent: bool = False,
    workers: int | None = None,
    chunk_customers: int = CHUNK_CUSTOMERS,
) -> GenerationSummary:
    """Generate the sample business into <data_dir>/raw and <data_dir>/ground_truth (see docs/raw_data.md).

    The same parameters always give byte-identical files. `workers` (default: the CPU count) only changes
    how fast it runs; `chunk_customers` bounds memory (about 1 GB per worker at the default) and is part of
    the parameters (ids and file parts follow the chunks). With if_absent, nothing happens when
    <data_dir>/raw already holds Parquet files.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir)
    summary = GenerationSummary(data_dir=data_dir)
    if if_absent and _has_raw_files(data_dir):
        summary.skipped = True
        return summary
    if not 1 <= chunk_customers <= CHUNK_ID_CAPACITY or not 1 <= n_customers <= MAX_CHUNKS * chunk_customers:
        raise ValueError(
            f"need 1 <= chunk_customers <= {CHUNK_ID_CAPACITY:,} and 1 <= n_customers <= {MAX_CHUNKS} x chunk_customers"
        )
    if days < 1 or batches < 1 or not 0 <= malformed_rate < 0.5 or not 0 <= late_rate < 0.5:
        raise ValueError("days and batches must be >= 1; malformed_rate and late_rate in [0, 0.5)")
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    params = RunParameters(
        data_dir, n_customers, seed, as_of, days, batches, malformed_rate, late_rate, chunk_customers
    )

    _clear_previous_output(data_dir)
    workers = min(workers or os.cpu_count() or 1, params.n_chunks)
    log.info("generating %s customers in %d chunk(s) with %d worker(s)", f"{n_customers:,}", params.n_chunks, workers)
    results = [_products(params), *_run_chunks(params, workers)]
    stats = _merge(results, summary)
    _write_ground_truth(params, summary, results, stats)
    summary.seconds = time.perf_counter() - started
    return summary
