"""Erasure (GDPR art. 17) and raw-data retention: the two places where the pipeline deletes rows.

Everything else in the warehouse is append-only or rebuilt; these two steps are the exception, recorded in
docs/decisions/0007-erasure.md and explained for operators in docs/erasure.md.

Erasure, in the journey_run job after the dbt build and before activation, for each request not executed yet:
1. resolve the person: the request's customer_id, or its normalised email through identity.customer_identities;
2. collect what identifies them: customer_id, SHA-256 of every email and phone they used, the anonymous and
   device ids the identity graph links to them (unambiguous ones only: a shared device is not theirs alone),
   and the keys of their orders, actions and enrollments (order_items, the send ledger and journey tables
   reference those, not the customer);
3. delete every matching row of every base table found in information_schema with a column named
   customer_id, email, phone, anonymous_id, device_id, order_id, action_id, enrollment_id, or raw_record (the
   JSON of a rejected raw row); views follow their tables. All pending requests go in one transaction and one
   set-based pass: each table is read and deleted from once, whatever the number of requests, and a row
   counts for the first request (in request order) that names it;
4. record deletion actions for the CRM and ad-audience destinations and an audit row with the counts.
A request is executed once (audit.erasures is keyed on request_id). Every run also sweeps rows that arrived
again for an already erased customer (customer_id or email hash, and any account created anew under one of
their emails), audited in audit.erasure_sweeps.

Retention, in its own job: deletes raw rows whose event time is older than the retention, audited in
audit.purges.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

log = logging.getLogger(__name__)

AUDIT_ERASURES = "audit.erasures"
AUDIT_SWEEPS = "audit.erasure_sweeps"
AUDIT_PURGES = "audit.purges"
ERASURE_DELETIONS = "activation.erasure_deletions"
LEDGER_TABLE = "activation.send_ledger"

# Hold the erasure's own records (tombstones by design, docs/erasure.md): never scanned for deletion.
TOMBSTONE_RELATIONS = frozenset(
    {AUDIT_ERASURES, AUDIT_SWEEPS, AUDIT_PURGES, ERASURE_DELETIONS, "policy.erased_customers"}
)

# Column name -> how its value is compared with the erasure targets. Emails and phones are compared by the
# SHA-256 of their normalised form, so any capitalisation matches and the audit never needs the plaintext.
TARGET_COLUMNS = {
    "customer_id": "customer_id",
    "email": "email_sha256",
    "phone": "phone_sha256",
    "anonymous_id": "anonymous_id",
    "device_id": "device_id",
    "order_id": "order_id",
    "action_id": "action_id",
    "enrollment_id": "enrollment_id",
}
LINKED_KEYS = ("order_id", "action_id", "enrollment_id")  # collected from the person's rows, then deleted too
RAW_RECORD_COLUMN = "raw_record"
# The identity graph stores identifiers as (type, value) pairs, e.g. ('email', 'ann@example.com'); a pair
# matches like the column its type names. shop_customer_id is our customer_id.
TYPED_IDENTIFIERS = {
    "identifier_value": "identifier_type",
    "linked_identifier_value": "linked_identifier_type",
}
IDENTIFIER_TYPE_COLUMN = {
    "email": "email",
    "anonymous_id": "anonymous_id",
    "device_id": "device_id",
    "shop_customer_id": "customer_id",
    "phone": "phone",
}
# Lists of customer ids (e.g. the customers sharing an ambiguous identifier): the row names the person.
CUSTOMER_ID_LIST_COLUMNS = ("shop_customer_ids",)
SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")

# Where deletion actions go: destination -> (destination kind, operation). Connectors that implement them
# (CRM contact delete, ad-audience member removal) are built in the activations issue; until then the actions
# wait in activation.erasure_deletions with state 'pending'.
DELETION_DESTINATIONS = {
    "crm": ("crm", "delete_contact"),
    "ad_audience": ("audience", "remove_member"),
}

# Raw tables the retention purge applies to, with the event-time column of docs/raw_data.md. Left out on
# purpose: customers (the account itself; removed by erasure, not by age), consent_events (the proof of
# consent must outlive the consent it proves), orders, order_items and subscriptions (financial records with
# their own statutory retention), products (no personal data), erasure_requests (deleted when executed).
RETENTION_EVENT_TIME = {
    "identifies": "occurred_at",
    "sessions": "started_at",
    "events": "occurred_at",
    "support_tickets": "created_at",
    "message_engagement": "occurred_at",
}
DEFAULT_RETENTION_DAYS = 400


class ErasureError(RuntimeError):
    """An erasure that cannot run as asked; names the request or table and what was expected."""


@dataclass
class ErasureReport:
    executed: list[dict] = field(default_factory=list)  # one per request: request_id, customer_id, rows_deleted
    already_executed: int = 0
    unresolved: list[str] = field(default_factory=list)  # request_ids naming nobody we hold data for
    swept_rows: dict[str, int] = field(default_factory=dict)

    @property
    def rows_deleted(self) -> int:
        return sum(sum(e["rows_deleted"].values()) for e in self.executed)


@dataclass
class PurgeReport:
    cutoff: datetime
    rows_deleted: dict[str, int] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_erasure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists audit")
    con.execute("create schema if not exists activation")
    con.execute(
        f"""
        create table if not exists {AUDIT_ERASURES} (
            request_id varchar primary key,
            customer_id varchar,
            email_sha256 varchar[] not null,
            requested_by varchar,
            requested_at timestamp,
            executed_at timestamp not null,
            run_id varchar not null,
            pending_actions_cancelled integer not null,
            enrollments_ended integer not null,
            rows_deleted json not null,
            source_files json not null
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {AUDIT_SWEEPS} (
            run_id varchar not null,
            executed_at timestamp not null,
            rows_deleted json not null
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {ERASURE_DELETIONS} (
            action_id varchar primary key,
            request_id varchar not null,
            destination varchar not null,
            destination_kind varchar not null,
            operation varchar not null,
            external_id varchar,
            email_sha256 varchar[] not null,
            state varchar not null,
            created_at timestamp not null,
            run_id varchar not null
        )
        """
    )


def _relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".")
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchone()
    return bool(found and found[0])


def tables_with_personal_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every base table (not view) of the warehouse with a column erasure matches on: relation -> columns."""
    names = [*TARGET_COLUMNS, RAW_RECORD_COLUMN, *TYPED_IDENTIFIERS, *CUSTOMER_ID_LIST_COLUMNS]
    rows = con.execute(
        f"""
        select c.table_schema || '.' || c.table_name, c.column_name
        from information_schema.columns as c
        inner join information_schema.tables as t
            on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema and t.table_name = c.table_name
        where
            t.table_type = 'BASE TABLE'
            and t.table_catalog = current_database()
            and c.table_schema not in ({", ".join("?" for _ in SYSTEM_SCHEMAS)})
            and lower(c.column_name) in ({", ".join("?" for _ in names)})
        order by 1, 2
        """,
        [*SYSTEM_SCHEMAS, *names],
    ).fetchall()
    found: dict[str, list[str]] = {}
    for relation, column in rows:
        if relation not in TOMBSTONE_RELATIONS:
            found.setdefault(relation, []).append(column.lower())
    return found


def _quote(relation: str) -> str:
    return ".".join(f'"{part}"' for part in relation.split("."))


def _value_sql(column: str, expression: str) -> str:
    """How a stored value is compared with the targets of its kind (see TARGET_COLUMNS)."""
    if column == "email":
        return f"sha256(lower(trim({expression})))"
    if column == "phone":
        return f"sha256(trim({expression}))"
    return f"cast({expression} as varchar)"


def _matches_sql(relation: str, columns: Iterable[str], kinds: Iterable[str] = tuple(TARGET_COLUMNS.values())) -> str:
    """A query of (row_ref, request_rank): each row of `relation` that carries a target of one of `kinds` (in a
    column, an identity-graph pair or its raw JSON), with the first request (in request order) whose target it
    carries. One join per matching column, for every request at once."""
    wanted = set(kinds)
    joins = []  # (target kind, SQL expression of the row's value, extra condition on the row)

    def join(kind: str, value: str, condition: str = "true") -> None:
        if kind in wanted:
            joins.append(
                f"""select stored.rowid as row_ref, targets.request_rank
                    from {_quote(relation)} as stored
                    inner join erasure_targets as targets
                        on targets.kind = '{kind}' and targets.value = {value}
                    where {condition}"""
            )

    for column in columns:
        if column in TYPED_IDENTIFIERS:
            for identifier_type, like_column in IDENTIFIER_TYPE_COLUMN.items():
                join(
                    TARGET_COLUMNS[like_column],
                    _value_sql(like_column, f'stored."{column}"'),
                    f"stored.\"{TYPED_IDENTIFIERS[column]}\" = '{identifier_type}'",
                )
        elif column in CUSTOMER_ID_LIST_COLUMNS:
            if "customer_id" in wanted:
                joins.append(
                    f"""select stored.rowid as row_ref, targets.request_rank
                        from {_quote(relation)} as stored
                        inner join erasure_targets as targets
                            on targets.kind = 'customer_id'
                            and list_contains(cast(stored."{column}" as varchar[]), targets.value)"""
                )
        elif column == RAW_RECORD_COLUMN:
            for name, kind in TARGET_COLUMNS.items():
                join(kind, _value_sql(name, f"json_extract_string(stored.{RAW_RECORD_COLUMN}, '$.{name}')"))
        else:
            join(TARGET_COLUMNS[column], _value_sql(column, f'stored."{column}"'))
    if not joins:
        return "select null::bigint as row_ref, null::integer as request_rank where false"
    union = "\n union all \n".join(joins)
    return f"select row_ref, min(request_rank) as request_rank from ({union}) as hits group by row_ref"


def _load_targets(
    con: duckdb.DuckDBPyConnection, people: list[tuple[int, str | None, list[str]]], sweep: bool = False
) -> None:
    """Fills the temp table erasure_targets(request_rank, kind, value) with everything that identifies each
    person, for all of them at once: people = [(request_rank, customer_id or None, email hashes)].
    sweep: also every customer_id on a row with one of the emails (an export that re-creates an erased person's
    account under a new customer_id)."""
    con.execute("create or replace temp table erasure_targets (request_rank integer, kind varchar, value varchar)")
    rows = [[rank, "customer_id", customer_id] for rank, customer_id, _ in people if customer_id]
    rows += [[rank, "email_sha256", value] for rank, _, hashes in people for value in hashes]
    if rows:
        con.executemany("insert into erasure_targets values (?, ?, ?)", rows)
    tables = tables_with_personal_columns(con)

    def add_from_rows(relation: str, kinds: Iterable[str], kind: str, value: str, column: str) -> None:
        con.execute(
            f"""insert into erasure_targets
                select distinct hits.request_rank, '{kind}', {value}
                from {_quote(relation)} as stored
                inner join ({_matches_sql(relation, tables[relation], kinds)}) as hits on stored.rowid = hits.row_ref
                where stored."{column}" is not null"""
        )

    if sweep:
        for relation, columns in tables.items():
            if "email" in columns and "customer_id" in columns:
                add_from_rows(
                    relation, ("email_sha256",), "customer_id", "cast(stored.customer_id as varchar)", "customer_id"
                )
    if _relation_exists(con, "identity.customer_identities"):
        # Every identifier the identity graph links to the person; ambiguous ones (shared devices, a family
        # email) belong to others too and are not theirs to erase.
        con.execute(
            """
            insert into erasure_targets
            select distinct
                targets.request_rank,
                case when identifier_type = 'email' then 'email_sha256' else identifier_type end,
                case when identifier_type = 'email' then sha256(lower(trim(identifier_value))) else identifier_value end
            from identity.customer_identities as identities
            inner join erasure_targets as targets
                on targets.kind = 'customer_id' and identities.customer_id = targets.value
            where identifier_type in ('email', 'anonymous_id', 'device_id') and not is_ambiguous
            """
        )
    # Emails and phones on the person's own rows (customer records, logins), then the keys their rows carry.
    for relation, columns in tables.items():
        for column, kind in (("email", "email_sha256"), ("phone", "phone_sha256")):
            if column in columns:
                add_from_rows(relation, ("customer_id",), kind, _value_sql(column, f'stored."{column}"'), column)
    person_kinds = ("customer_id", "email_sha256", "phone_sha256", "anonymous_id", "device_id")
    for relation, columns in tables.items():
        for key in (k for k in LINKED_KEYS if k in columns):
            add_from_rows(relation, person_kinds, key, f'cast(stored."{key}" as varchar)', key)
    con.execute("create or replace temp table erasure_targets as select distinct * from erasure_targets")


def _pending_actions(con: duckdb.DuckDBPyConnection, tables: dict[str, list[str]]) -> dict[int, int]:
    """Per request: actions of the person that were decided and not sent (sent = 'sent' in the send ledger)."""
    decided = [r for r, cols in tables.items() if "action_id" in cols and "customer_id" in cols]
    if not decided:
        return {}
    union = " union ".join(
        f"""select distinct targets.request_rank, cast(decided.action_id as varchar) as action_id
            from {_quote(r)} as decided
            inner join erasure_targets as targets
                on targets.kind = 'customer_id' and decided.customer_id = targets.value"""
        for r in decided
    )
    sent = (
        f"select action_id from {LEDGER_TABLE} where state = 'sent'"
        if _relation_exists(con, LEDGER_TABLE)
        else "select null::varchar as action_id where false"
    )
    return dict(
        con.execute(
            f"""select request_rank, count(distinct action_id) from ({union})
                where action_id not in ({sent}) group by request_rank"""
        ).fetchall()
    )


@dataclass
class _Deleted:
    rows: dict[int, dict[str, int]] = field(default_factory=dict)  # request_rank -> relation -> rows
    source_files: dict[int, set[str]] = field(default_factory=dict)  # request_rank -> raw files that held them

    def of(self, rank: int) -> dict[str, int]:
        return self.rows.get(rank, {})


def _delete_matching_rows(con: duckdb.DuckDBPyConnection) -> _Deleted:
    """Deletes every row that carries a target, one statement per table for all requests; each row counts for
    the first request whose target it carries."""
    deleted = _Deleted()
    for relation, columns in tables_with_personal_columns(con).items():
        con.execute(f"create or replace temp table erasure_hits as {_matches_sql(relation, columns)}")
        for rank, count in con.execute("select request_rank, count(*) from erasure_hits group by 1").fetchall():
            deleted.rows.setdefault(rank, {})[relation] = int(count)
        if relation.startswith("raw."):
            for rank, source_file in con.execute(
                f"""select distinct hits.request_rank, stored._source_file from {_quote(relation)} as stored
                    inner join erasure_hits as hits on stored.rowid = hits.row_ref
                    where stored._source_file is not null"""
            ).fetchall():
                deleted.source_files.setdefault(rank, set()).add(source_file)
        con.execute(f"delete from {_quote(relation)} where rowid in (select row_ref from erasure_hits)")
    con.execute("drop table if exists erasure_hits")
    return deleted


def _pending_requests(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Valid requests not executed yet, resolved to a customer: (request_id, customer_id, email, by, at)."""
    if not _relation_exists(con, "staging.stg_raw__erasure_requests"):
        raise ErasureError(
            "staging.stg_raw__erasure_requests does not exist: the dbt build must run before the erasure step "
            "(dbt_project/models/staging/raw/stg_raw__erasure_requests.sql)."
        )
    by_email = (
        """
        left join identity.customer_identities as identities
            on
                requests.customer_id is null
                and identities.identifier_type = 'email'
                and identities.identifier_value = requests.email
                and identities.customer_id is not null
                and not identities.is_ambiguous
        """
        if _relation_exists(con, "identity.customer_identities")
        else "left join (select null::varchar as customer_id) as identities on false"
    )
    return con.execute(
        f"""
        select
            requests.request_id,
            coalesce(requests.customer_id, identities.customer_id) as customer_id,
            requests.email,
            requests.requested_by,
            requests.requested_at
        from staging.stg_raw__erasure_requests as requests
        {by_email}
        where requests.request_id not in (select request_id from {AUDIT_ERASURES})
        order by requests.requested_at, requests.request_id
        """
    ).fetchall()


def _deletion_actions(request_id: str, customer_id: str | None, email_hashes: list[str]) -> list[list]:
    actions = []
    for destination, (kind, operation) in DELETION_DESTINATIONS.items():
        if kind == "crm" and customer_id is None:
            continue  # the CRM knows the person by our customer_id as external id; no id, nothing to delete
        if kind == "audience" and not email_hashes:
            continue  # audiences match on hashed emails
        actions.append([request_id, destination, kind, operation, customer_id if kind == "crm" else None])
    return actions


def execute_erasures(con: duckdb.DuckDBPyConnection, run_id: str, executed_at: datetime | None = None) -> ErasureReport:
    """Executes every erasure request not executed yet, all of them in one set-based pass (one transaction; each
    table is read and deleted from once for all requests), then sweeps re-ingested rows of erased customers."""
    executed_at = executed_at or _now()
    ensure_erasure_tables(con)
    report = ErasureReport()
    report.already_executed = con.execute(f"select count(*) from {AUDIT_ERASURES}").fetchone()[0]
    requests = _pending_requests(con)
    if requests:
        con.execute("begin transaction")
        try:
            _execute(con, requests, run_id, executed_at, report)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    report.swept_rows = sweep_erased_customers(con, run_id, executed_at)
    con.execute("checkpoint")  # DuckDB reclaims deleted rows' storage at a checkpoint
    return report


def _execute(
    con: duckdb.DuckDBPyConnection, requests: list[tuple], run_id: str, executed_at: datetime, report: ErasureReport
) -> None:
    people = []
    for rank, (_, customer_id, email, _, _) in enumerate(requests):
        hashes = [con.execute("select sha256(lower(trim(?)))", [email]).fetchone()[0]] if email is not None else []
        people.append((rank, customer_id, hashes))
    _load_targets(con, people)
    email_hashes: dict[int, list[str]] = {}
    for rank, value in con.execute(
        "select request_rank, value from erasure_targets where kind = 'email_sha256' order by value"
    ).fetchall():
        email_hashes.setdefault(rank, []).append(value)
    pending = _pending_actions(con, tables_with_personal_columns(con))
    deleted = _delete_matching_rows(con)
    deletions, audits = [], []
    for rank, (request_id, customer_id, _, requested_by, requested_at) in enumerate(requests):
        hashes, rows = email_hashes.get(rank, []), deleted.of(rank)
        for destination_row in _deletion_actions(request_id, customer_id, hashes):
            deletions.append(
                [
                    request_id,
                    destination_row[1],
                    *destination_row,
                    hashes if destination_row[2] == "audience" else [],
                    executed_at,
                    run_id,
                ]
            )
        audits.append(
            [
                request_id,
                customer_id,
                hashes,
                requested_by,
                requested_at,
                executed_at,
                run_id,
                pending.get(rank, 0),
                rows.get("journeys.journey_enrollments", 0),
                json.dumps(rows, sort_keys=True),
                json.dumps(sorted(deleted.source_files.get(rank, ()))),
            ]
        )
        if customer_id is None and not rows:
            report.unresolved.append(request_id)
        report.executed.append({"request_id": request_id, "customer_id": customer_id, "rows_deleted": rows})
        log.info(
            "erasure %s (requested by %s): %d rows deleted from %d tables, %d pending actions cancelled",
            request_id,
            requested_by,
            sum(rows.values()),
            len(rows),
            pending.get(rank, 0),
        )
    if deletions:
        con.executemany(
            f"""insert into {ERASURE_DELETIONS}
                select md5('erasure|' || ? || '|' || ?), ?, ?, ?, ?, ?, ?, 'pending', ?, ?
                on conflict do nothing""",
            deletions,
        )
    con.executemany(f"insert into {AUDIT_ERASURES} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", audits)


def sweep_erased_customers(con: duckdb.DuckDBPyConnection, run_id: str, executed_at: datetime) -> dict[str, int]:
    """Deletes rows that arrived again for an erased customer (their customer_id or an email hash in the
    tombstones). Audited in audit.erasure_sweeps when anything was deleted."""
    tombstones = con.execute(
        f"select customer_id, email_sha256 from {AUDIT_ERASURES} where request_id in "
        f"(select request_id from {AUDIT_ERASURES} where run_id <> ?)",
        [run_id],
    ).fetchall()
    if not tombstones:
        return {}
    customer_ids = sorted({c for c, _ in tombstones if c})
    hashes = sorted({h for _, hs in tombstones for h in hs})
    # one "request" for all tombstones: the sweep audits per table, not per person
    people = [(0, customer_id, []) for customer_id in customer_ids] + [(0, None, hashes)]
    con.execute("begin transaction")
    try:
        _load_targets(con, people, sweep=True)
        deleted = _delete_matching_rows(con).of(0)
        if deleted:
            con.execute(
                f"insert into {AUDIT_SWEEPS} values (?, ?, ?)",
                [run_id, executed_at, json.dumps(deleted, sort_keys=True)],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    if deleted:
        log.warning("erasure sweep: %d rows arrived again for erased customers and were deleted", sum(deleted.values()))
    return deleted


def ensure_purge_audit(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists audit")
    con.execute(
        f"""
        create table if not exists {AUDIT_PURGES} (
            table_name varchar not null,
            event_time_column varchar not null,
            cutoff timestamp not null,
            retention_days integer not null,
            rows_deleted bigint not null,
            run_id varchar not null,
            executed_at timestamp not null,
            requested_by varchar not null
        )
        """
    )


def purge_raw(
    con: duckdb.DuckDBPyConnection,
    retention_days: int,
    run_id: str,
    requested_by: str,
    now: datetime | None = None,
) -> PurgeReport:
    """Deletes raw rows whose event time is before now - retention_days, one audit row per table."""
    if retention_days < 1:
        raise ErasureError(f"retention_days must be at least 1 (got {retention_days}); see docs/erasure.md")
    executed_at = now or _now()
    report = PurgeReport(cutoff=executed_at - timedelta(days=retention_days))
    ensure_purge_audit(con)
    con.execute("begin transaction")
    try:
        for table, column in RETENTION_EVENT_TIME.items():
            if not _relation_exists(con, f"raw.{table}"):
                continue
            (count,) = con.execute(f'delete from raw."{table}" where "{column}" < ?', [report.cutoff]).fetchone()
            report.rows_deleted[table] = int(count)
            con.execute(
                f"insert into {AUDIT_PURGES} values (?, ?, ?, ?, ?, ?, ?, ?)",
                [table, column, report.cutoff, retention_days, count, run_id, executed_at, requested_by],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    con.execute("checkpoint")
    return report
