"""Erasure (GDPR art. 17) and raw-data retention: the two places where the pipeline deletes rows.

Everything else in the warehouse is append-only or rebuilt; these two steps are the exception, recorded in
docs/decisions/0007-erasure.md and explained for operators in docs/erasure.md.

Erasure, in the journey_run job after the dbt build and before activation, for each request not executed yet:
1. resolve the person: the request's customer_id, or its normalised email through identity.customer_identities;
2. collect what identifies them: customer_id, SHA-256 of every email and phone they used, the anonymous and
   device ids the identity graph links to them (unambiguous ones only: a shared device is not theirs alone),
   and the keys of their orders, actions and enrollments (order_items, the send ledger and journey tables
   reference those, not the customer);
3. delete, in one transaction per request, every matching row of every base table found in information_schema
   with a column named customer_id, email, phone, anonymous_id, device_id, order_id, action_id, enrollment_id,
   or raw_record (the JSON of a rejected raw row); views follow their tables;
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


def _match_sql(columns: Iterable[str], kinds: Iterable[str] = tuple(TARGET_COLUMNS.values())) -> str:
    """A where-condition: the row carries one of the targets (in erasure_targets) in a column or its raw JSON."""
    wanted = set(kinds)
    conditions = []
    for column in columns:
        if column in TYPED_IDENTIFIERS:
            type_column = TYPED_IDENTIFIERS[column]
            for identifier_type, like_column in IDENTIFIER_TYPE_COLUMN.items():
                kind = TARGET_COLUMNS[like_column]
                if kind in wanted:
                    value = _value_sql(like_column, f'"{column}"')
                    conditions.append(
                        f"(\"{type_column}\" = '{identifier_type}' and "
                        f"{value} in (select value from erasure_targets where kind = '{kind}'))"
                    )
        elif column in CUSTOMER_ID_LIST_COLUMNS:
            if "customer_id" in wanted:
                conditions.append(
                    f"""list_has_any(cast("{column}" as varchar[]),
                        (select coalesce(list(value), []) from erasure_targets where kind = 'customer_id'))"""
                )
        elif column == RAW_RECORD_COLUMN:
            for name, kind in TARGET_COLUMNS.items():
                if kind in wanted:
                    value = _value_sql(name, f"json_extract_string({RAW_RECORD_COLUMN}, '$.{name}')")
                    conditions.append(f"{value} in (select value from erasure_targets where kind = '{kind}')")
        elif TARGET_COLUMNS[column] in wanted:
            value = _value_sql(column, f'"{column}"')
            conditions.append(f"{value} in (select value from erasure_targets where kind = '{TARGET_COLUMNS[column]}')")
    return " or ".join(conditions) if conditions else "false"


def _load_targets(
    con: duckdb.DuckDBPyConnection, customer_ids: list[str], email_hashes: list[str], accounts_by_email: bool = False
) -> None:
    """Fills the temp table erasure_targets(kind, value) with everything that identifies the person.
    accounts_by_email: also every customer_id on a row with one of the emails (the sweep: an export that
    re-creates an erased person's account under a new customer_id)."""
    con.execute("create or replace temp table erasure_targets (kind varchar, value varchar)")
    for kind, values in (("customer_id", customer_ids), ("email_sha256", email_hashes)):
        if values:
            con.executemany(f"insert into erasure_targets values ('{kind}', ?)", [[v] for v in values])
    if accounts_by_email and email_hashes:
        for relation, columns in tables_with_personal_columns(con).items():
            if "email" in columns and "customer_id" in columns:
                con.execute(
                    f"""insert into erasure_targets
                        select distinct 'customer_id', cast(customer_id as varchar) from {_quote(relation)}
                        where ({_match_sql(["email"], kinds=("email_sha256",))}) and customer_id is not null"""
                )
    if customer_ids and _relation_exists(con, "identity.customer_identities"):
        # Every identifier the identity graph links to the person; ambiguous ones (shared devices, a family
        # email) belong to others too and are not theirs to erase.
        con.execute(
            """
            insert into erasure_targets
            select distinct
                case when identifier_type = 'email' then 'email_sha256' else identifier_type end,
                case when identifier_type = 'email' then sha256(lower(trim(identifier_value))) else identifier_value end
            from identity.customer_identities
            where
                customer_id in (select value from erasure_targets where kind = 'customer_id')
                and identifier_type in ('email', 'anonymous_id', 'device_id')
                and not is_ambiguous
            """
        )
    tables = tables_with_personal_columns(con)
    # Emails and phones on the person's own rows (customer records, logins), then the keys their rows carry.
    for relation, columns in tables.items():
        by_person = _match_sql(columns, kinds=("customer_id",))
        for column, kind in (("email", "email_sha256"), ("phone", "phone_sha256")):
            if column in columns:
                con.execute(
                    f"""insert into erasure_targets
                        select distinct '{kind}', {_value_sql(column, f'"{column}"')}
                        from {_quote(relation)} where ({by_person}) and "{column}" is not null"""
                )
    person_kinds = ("customer_id", "email_sha256", "phone_sha256", "anonymous_id", "device_id")
    for relation, columns in tables.items():
        linked = [k for k in LINKED_KEYS if k in columns]
        if not linked:
            continue
        matches = _match_sql(columns, kinds=person_kinds)
        for key in linked:
            con.execute(
                f"""insert into erasure_targets
                    select distinct '{key}', cast("{key}" as varchar)
                    from {_quote(relation)} where ({matches}) and "{key}" is not null"""
            )
    con.execute("create or replace temp table erasure_targets as select distinct * from erasure_targets")


def _pending_actions(con: duckdb.DuckDBPyConnection, tables: dict[str, list[str]]) -> int:
    """Actions of the person that were decided and not sent (sent = 'sent' in the send ledger)."""
    decided = [r for r, cols in tables.items() if "action_id" in cols and "customer_id" in cols]
    if not decided:
        return 0
    union = " union ".join(
        f"select cast(action_id as varchar) as action_id from {_quote(r)} "
        "where customer_id in (select value from erasure_targets where kind = 'customer_id')"
        for r in decided
    )
    sent = (
        f"select action_id from {LEDGER_TABLE} where state = 'sent'"
        if _relation_exists(con, LEDGER_TABLE)
        else "select null::varchar as action_id where false"
    )
    return con.execute(f"select count(*) from ({union}) where action_id not in ({sent})").fetchone()[0]


def _delete_matching_rows(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], list[str], int]:
    """Deletes every row that carries a target. Returns rows deleted per table, the raw source files that held
    them, and how many enrollments ended."""
    tables = tables_with_personal_columns(con)
    deleted: dict[str, int] = {}
    source_files: set[str] = set()
    enrollments_ended = 0
    for relation, columns in tables.items():
        condition = _match_sql(columns)
        if relation.startswith("raw."):
            source_files.update(
                r[0]
                for r in con.execute(
                    f"select distinct _source_file from {_quote(relation)} where {condition}"
                ).fetchall()
                if r[0] is not None
            )
        (count,) = con.execute(f"delete from {_quote(relation)} where {condition}").fetchone()
        if count:
            deleted[relation] = int(count)
            if relation == "journeys.journey_enrollments":
                enrollments_ended = int(count)
    return deleted, sorted(source_files), enrollments_ended


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
    """Executes every erasure request not executed yet, then sweeps re-ingested rows of erased customers."""
    executed_at = executed_at or _now()
    ensure_erasure_tables(con)
    report = ErasureReport()
    report.already_executed = con.execute(f"select count(*) from {AUDIT_ERASURES}").fetchone()[0]
    for request_id, customer_id, email, requested_by, requested_at in _pending_requests(con):
        con.execute("begin transaction")
        try:
            email_hashes = (
                [con.execute("select sha256(lower(trim(?)))", [email]).fetchone()[0]] if email is not None else []
            )
            _load_targets(con, [customer_id] if customer_id else [], email_hashes)
            all_hashes = sorted(
                r[0] for r in con.execute("select value from erasure_targets where kind = 'email_sha256'").fetchall()
            )
            pending = _pending_actions(con, tables_with_personal_columns(con))
            deleted, source_files, enrollments_ended = _delete_matching_rows(con)
            for destination_row in _deletion_actions(request_id, customer_id, all_hashes):
                con.execute(
                    f"""insert into {ERASURE_DELETIONS}
                        select md5('erasure|' || ? || '|' || ?), ?, ?, ?, ?, ?, ?, 'pending', ?, ?
                        on conflict do nothing""",
                    [
                        request_id,
                        destination_row[1],
                        *destination_row,
                        all_hashes if destination_row[2] == "audience" else [],
                        executed_at,
                        run_id,
                    ],
                )
            con.execute(
                f"insert into {AUDIT_ERASURES} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    request_id,
                    customer_id,
                    all_hashes,
                    requested_by,
                    requested_at,
                    executed_at,
                    run_id,
                    pending,
                    enrollments_ended,
                    json.dumps(deleted, sort_keys=True),
                    json.dumps(source_files),
                ],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        if customer_id is None and not deleted:
            report.unresolved.append(request_id)
        report.executed.append({"request_id": request_id, "customer_id": customer_id, "rows_deleted": deleted})
        log.info(
            "erasure %s (requested by %s): %d rows deleted from %d tables, %d pending actions cancelled",
            request_id,
            requested_by,
            sum(deleted.values()),
            len(deleted),
            pending,
        )
    report.swept_rows = sweep_erased_customers(con, run_id, executed_at)
    con.execute("checkpoint")  # DuckDB reclaims deleted rows' storage at a checkpoint
    return report


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
    con.execute("begin transaction")
    try:
        _load_targets(con, customer_ids, hashes, accounts_by_email=True)
        deleted, _, _ = _delete_matching_rows(con)
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
