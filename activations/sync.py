"""Diff-based sync of CRM records and ad-audience members (docs/decisions/0010-diff-based-sync.md).

Journeys decide CRM and audience actions one by one (add at day 4, remove at day 7, upsert a contact); what a
CRM or an ad platform needs is the *state* those actions imply. Each run:

1. carries out the erasure deletions queued in `activation.erasure_deletions` for this kind of destination;
2. computes the desired state in SQL from the warehouse (`desired_*_sql`): who should be in each audience,
   which contacts and deals should exist with which fields;
3. diffs it in SQL against `activation.sync_state`, what this project last wrote and the destination
   acknowledged: adds, updates, removes (only of records this project created) and releases (records someone
   else created: forgotten, never deleted);
4. holds the run when the diff is far above the recent normal (the core's volume cap);
5. sends only the diff, batch by batch, and commits a batch's state only after the destination acknowledged it;
6. marks the due actions of the kind in the send ledger: 'sent' when the state they asked for is in place
   (sent now, or already there: nothing to send), 'failed' / 'dead' with the destination's reason otherwise.

Every request is idempotent by construction (upsert by a unique key, add or remove of a member), so a crash
between the destination's acknowledgement and the state commit costs one repeated request, never a duplicate.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import duckdb
import pyarrow as pa

from activations import ledger
from activations.volume import VolumeCap, check_volume

log = logging.getLogger(__name__)

STATE_TABLE = "activation.sync_state"
ERASURE_DELETIONS = "activation.erasure_deletions"

# Object types, in the order they are synced (a deal is associated with its contact, so contacts go first).
CONTACT = "contact"
DEAL = "deal"
AUDIENCE_MEMBER = "audience_member"

# Where the desired state is read from; tests point these at small scenario tables.
DEFAULT_RELATIONS = {
    "decisions": "policy.policy_decisions",
    "actions": "journeys.journey_actions",
    "enrollments": "journeys.journey_enrollments",
    "customers": "identity.customers",
}


@dataclass(frozen=True)
class SyncRecord:
    """One record to write or remove. `fields` are the properties (CRM) or {'identifiers': [...]} (audiences)."""

    object_type: str
    scope: str
    object_key: str
    person_key: str
    fields: dict
    fields_hash: str
    provider_id: str | None = None
    identifiers: tuple[str, ...] = ()
    parent_provider_id: str | None = None  # deals: the contact's id at the destination, for the association


@dataclass(frozen=True)
class SyncOutcome:
    object_key: str
    ok: bool
    provider_id: str | None = None
    created: bool | None = None  # True: the destination created the record (ours); False: it existed before
    error: str | None = None
    retriable: bool = False  # only retriable errors until the attempts ran out: 'dead', tried again next run


class SyncDestination(Protocol):
    name: str  # e.g. 'hubspot'; the key of its rows in activation.sync_state
    kind: str  # 'crm' or 'audience': which actions and erasure deletions it carries out
    object_types: tuple[str, ...]

    def max_batch_size(self, object_type: str) -> int: ...

    def upsert(self, object_type: str, scope: str, records: Sequence[SyncRecord]) -> list[SyncOutcome]:
        """Create or update; one outcome per record. Must be idempotent (a repeated call changes nothing)."""

    def remove(
        self, object_type: str, scope: str, records: Sequence[SyncRecord], erasure: bool = False
    ) -> list[SyncOutcome]:
        """Delete records this project created / remove members it added; `erasure`: the person asked to be
        forgotten (permanent deletion where the API has one). Removing what is already gone is a success."""


@dataclass
class SyncReport:
    destination: str
    planned: dict[str, int] = field(default_factory=dict)  # op -> records
    written: dict[str, int] = field(default_factory=dict)  # op -> records acknowledged
    failed_records: list[dict] = field(default_factory=list)  # {object_type, scope, object_key, op, error}
    released: int = 0  # records someone else created that left the desired state: forgotten, not deleted
    erasures_done: int = 0
    erasures_failed: int = 0
    actions_sent: int = 0
    actions_failed: int = 0  # refused with a final error
    actions_dead: int = 0  # only retriable errors until the attempts ran out: tried again next run
    dry_run: bool = False

    requests: int = 0
    retried: int = 0
    duration_s: float = 0.0

    @property
    def requests_needed(self) -> int:
        return sum(v for k, v in self.planned.items() if k != "release")

    # The names of activations.types.ActivationReport, so an activation asset can report a sync like a send.
    @property
    def candidates(self) -> int:
        return self.actions_sent + self.actions_failed + self.actions_dead

    @property
    def sent(self) -> int:
        return self.actions_sent

    @property
    def failed(self) -> int:
        return self.actions_failed

    @property
    def dead(self) -> int:
        return self.actions_dead

    already_sent = 0
    resolved_in_flight = 0
    resent_in_flight = 0
    held_by_volume_cap = False
    hold_id = None
    volume_cap = None
    volume_normal = None

    @property
    def samples(self) -> list[dict]:
        return [{"planned": self.planned, "written": self.written}]

    @property
    def failure_reasons(self) -> dict[str, int]:
        reasons: dict[str, int] = {}
        for failure in self.failed_records:
            reasons[failure["error"]] = reasons.get(failure["error"], 0) + 1
        return reasons


def is_sync_destination(destination: object) -> bool:
    """Destinations synced by diff (activations.sync.sync) rather than sent by activations.runner.activate."""
    return hasattr(destination, "upsert") and getattr(destination, "kind", None) in ("crm", "audience")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SyncConfigError(ValueError):
    """A journey asks the sync for something it cannot do; names the journey, node and field."""


def ensure_sync_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists activation")
    # person_key is the customer_id of the person a record is about. It is deliberately not named customer_id:
    # erasure deletes rows by that column name before activation runs, and this row is what tells the sync
    # which records at the destination were ours to delete. The sync deletes the row itself once the
    # destination acknowledged the deletion (docs/activations.md, "Diff-based sync").
    con.execute(
        f"""
        create table if not exists {STATE_TABLE} (
            destination varchar not null,
            object_type varchar not null,
            scope varchar not null,
            object_key varchar not null,
            person_key varchar not null,
            provider_id varchar,
            fields_hash varchar not null,
            identifiers varchar[] not null,
            written_by_us boolean not null,
            first_synced_at timestamp not null,
            synced_at timestamp not null,
            run_id varchar not null,
            primary key (destination, object_type, scope, object_key)
        )
        """
    )


def _latest_due_actions_sql(relations: dict[str, str], action_kind: str) -> str:
    """Actions of a kind whose latest policy decision let them through ('due': sent or about to be)."""
    return f"""
        select actions.*,
            json_extract_string(actions.action_config, '$.operation') as operation
        from {relations["actions"]} as actions
        inner join (
            select action_id, state from {relations["decisions"]}
            qualify row_number() over (partition by action_id order by evaluation_number desc) = 1
        ) as latest
            on actions.action_id = latest.action_id and latest.state = 'due'
        where actions.action_kind = '{action_kind}'
    """


def desired_audience_members_sql(relations: dict[str, str]) -> str:
    """Members each audience should have now: the latest allowed action for (audience, customer) is an add,
    the enrollment that added them is still active (a customer who left the journey before its remove step
    leaves the audience too), and the customer still exists (erased people are gone from `customers`).
    Identifiers are normalised and SHA-256 hashed in SQL the way Meta documents (see meta_audiences.py)."""
    return f"""
        with audience_actions as (
            {_latest_due_actions_sql(relations, "audience")}
        ),

        latest_per_member as (
            select
                audience_actions.*,
                json_extract_string(audience_actions.action_config, '$.audience') as audience
            from audience_actions
            qualify row_number() over (
                partition by json_extract_string(audience_actions.action_config, '$.audience'), customer_id
                order by scheduled_at desc, case operation when 'remove' then 0 else 1 end, action_id
            ) = 1
        ),

        members as (
            select
                latest_per_member.audience as scope,
                latest_per_member.customer_id as object_key,
                latest_per_member.customer_id as person_key,
                sha256(lower(trim(customers.email))) as email_sha256,
                case
                    when nullif(ltrim(regexp_replace(customers.phone, '[^0-9]', '', 'g'), '0'), '') is not null
                        then sha256(ltrim(regexp_replace(customers.phone, '[^0-9]', '', 'g'), '0'))
                    else ''
                end as phone_sha256
            from latest_per_member
            inner join {relations["enrollments"]} as enrollments
                on latest_per_member.enrollment_id = enrollments.enrollment_id
            inner join {relations["customers"]} as customers
                on latest_per_member.customer_id = customers.customer_id
            where
                latest_per_member.operation = 'add'
                and enrollments.status = 'active'
                and nullif(trim(customers.email), '') is not null
        )

        select
            '{AUDIENCE_MEMBER}' as object_type,
            scope,
            object_key,
            person_key,
            [email_sha256, phone_sha256] as identifiers,
            '{{}}' as fields_json,
            md5(email_sha256 || '|' || phone_sha256) as fields_hash,
            cast(null as varchar) as parent_key
        from members
    """


def _field_lists(con: duckdb.DuckDBPyConnection, relations: dict[str, str], customer_columns: set[str]) -> list[str]:
    """The distinct `fields` lists of CRM action nodes, each checked against the customer columns."""
    rows = con.execute(
        f"""select distinct journey_id, node_id, coalesce(json_extract(action_config, '$.fields'), '[]')::varchar
            from {relations["actions"]} where action_kind = 'crm' order by all"""
    ).fetchall()
    lists = []
    for journey_id, node_id, fields_text in rows:
        names = json.loads(fields_text)
        for name in names:
            if name not in customer_columns:
                raise SyncConfigError(
                    f"journey {journey_id!r}, node {node_id!r}: CRM field {name!r} is not a column of "
                    f"{relations['customers']} (expected one of: {', '.join(sorted(customer_columns))})"
                )
        if fields_text not in lists:
            lists.append(fields_text)
    return lists


def desired_crm_records_sql(con: duckdb.DuckDBPyConnection, relations: dict[str, str]) -> str:
    """Contacts (one per customer with an allowed upsert_contact action: the latest one's properties, with the
    listed fields read from the customer *now*, so a changed email or name is one update) and deals (one per
    allowed create_deal action, keyed by its action_id, fields as of the first sync: a deal is created once)."""
    customer_columns = {r[0] for r in con.execute(f"describe {relations['customers']}").fetchall()}
    field_lists = _field_lists(con, relations, customer_columns)
    cases = "".join(
        f"""
                when crm_actions.fields_text = '{fields_text}' then json_object({
            ", ".join(f"'{name}', customers.{name}" for name in json.loads(fields_text)) or ""
        })"""
        for fields_text in field_lists
    )
    field_values = f"case {cases} else json_object() end" if field_lists else "json_object()"
    return f"""
        with crm_actions as (
            select
                due_actions.*,
                coalesce(json_extract(due_actions.action_config, '$.fields'), '[]')::varchar as fields_text,
                coalesce(json_extract(due_actions.action_config, '$.properties'), '{{}}')::json as static_properties
            from ({_latest_due_actions_sql(relations, "crm")}) as due_actions
        ),

        with_values as (
            select
                crm_actions.*,
                json_merge_patch(crm_actions.static_properties, {field_values}) as properties
            from crm_actions
            inner join {relations["customers"]} as customers
                on crm_actions.customer_id = customers.customer_id
        ),

        contacts as (
            select * from with_values
            where operation = 'upsert_contact'
            qualify row_number() over (partition by customer_id order by scheduled_at desc, action_id desc) = 1
        ),

        deals as (
            select * from with_values
            where operation = 'create_deal'
        )

        select
            '{CONTACT}' as object_type, '' as scope, customer_id as object_key, customer_id as person_key,
            cast([] as varchar[]) as identifiers, properties::varchar as fields_json,
            md5(properties::varchar) as fields_hash, cast(null as varchar) as parent_key
        from contacts
        union all
        select
            '{DEAL}', '', action_id, customer_id, cast([] as varchar[]), properties::varchar,
            -- created once: later changes of the customer's fields do not touch an existing deal
            md5(action_id), customer_id
        from deals
    """


def _unknown_operations(con: duckdb.DuckDBPyConnection, relations: dict[str, str], kind: str) -> None:
    allowed = {"audience": ("add", "remove"), "crm": ("upsert_contact", "create_deal")}[kind]
    bad = con.execute(
        f"""select journey_id, node_id, json_extract_string(action_config, '$.operation')
            from {relations["actions"]}
            where action_kind = ? and coalesce(json_extract_string(action_config, '$.operation'), '') not in
                ({", ".join("?" for _ in allowed)})
            limit 1""",
        [kind, *allowed],
    ).fetchone()
    if bad:
        raise SyncConfigError(
            f"journey {bad[0]!r}, node {bad[1]!r}: {kind} operation {bad[2]!r} is not one of {', '.join(allowed)}"
        )


def plan(
    con: duckdb.DuckDBPyConnection, destination: SyncDestination, relations: dict[str, str] | None = None
) -> dict[str, int]:
    """Builds temp tables sync_desired and sync_plan (one row per record to change); returns op -> count."""
    relations = {**DEFAULT_RELATIONS, **(relations or {})}
    ensure_sync_state(con)
    _unknown_operations(con, relations, destination.kind)
    desired_sql = (
        desired_audience_members_sql(relations)
        if destination.kind == "audience"
        else desired_crm_records_sql(con, relations)
    )
    supported = ", ".join(f"'{t}'" for t in destination.object_types)
    con.execute(f"create or replace temp table sync_desired as {desired_sql}")
    # Rows of object types the destination does not support stay in sync_desired: their actions are failed
    # with a reason below, never silently dropped.
    con.execute(
        f"""
        create or replace temp table sync_plan as
        with state as (select * from {STATE_TABLE} where destination = ?),
        desired as (select * from sync_desired where object_type in ({supported}))
        select
            coalesce(desired.object_type, state.object_type) as object_type,
            coalesce(desired.scope, state.scope) as scope,
            coalesce(desired.object_key, state.object_key) as object_key,
            coalesce(desired.person_key, state.person_key) as person_key,
            case
                when state.object_key is null then 'add'
                when desired.object_key is null and state.written_by_us then 'remove'
                when desired.object_key is null then 'release'
                else 'update'
            end as op,
            desired.fields_json,
            desired.fields_hash,
            desired.identifiers,
            state.identifiers as state_identifiers,
            state.provider_id,
            desired.parent_key
        from desired
        full outer join state
            on desired.object_type = state.object_type
            and desired.scope = state.scope
            and desired.object_key = state.object_key
        where state.object_key is null or desired.object_key is null or desired.fields_hash != state.fields_hash
        """,
        [destination.name],
    )
    return dict(con.execute("select op, count(*) from sync_plan group by op order by op").fetchall())


def _records(con: duckdb.DuckDBPyConnection, destination: SyncDestination, object_type: str, op: str) -> list:
    rows = con.execute(
        f"""
        select plan.scope, plan.object_key, plan.person_key, plan.fields_json, plan.fields_hash,
            case when ? = 'remove' then plan.state_identifiers else plan.identifiers end,
            plan.provider_id, parent.provider_id
        from sync_plan as plan
        left join {STATE_TABLE} as parent
            on parent.destination = ? and parent.object_type = '{CONTACT}' and parent.scope = ''
            and parent.object_key = plan.parent_key
        where plan.object_type = ? and plan.op = ?
        order by plan.scope, plan.object_key
        """,
        [op, destination.name, object_type, op],
    ).fetchall()
    return [
        SyncRecord(
            object_type=object_type,
            scope=scope,
            object_key=key,
            person_key=person,
            fields=json.loads(fields_json) if fields_json else {},
            fields_hash=fields_hash or "",
            provider_id=provider_id,
            identifiers=tuple(identifiers or ()),
            parent_provider_id=parent_id,
        )
        for scope, key, person, fields_json, fields_hash, identifiers, provider_id, parent_id in rows
    ]


def _commit_written(
    con: duckdb.DuckDBPyConnection,
    destination: SyncDestination,
    records: Sequence[SyncRecord],
    outcomes: dict[str, SyncOutcome],
    run_id: str,
    at: datetime,
) -> None:
    """State for the acknowledged upserts of one batch, in one statement."""
    acked = [r for r in records if outcomes.get(r.object_key) and outcomes[r.object_key].ok]
    if not acked:
        return
    table = pa.table(
        {
            "object_type": pa.array([r.object_type for r in acked], pa.string()),
            "scope": pa.array([r.scope for r in acked], pa.string()),
            "object_key": pa.array([r.object_key for r in acked], pa.string()),
            "person_key": pa.array([r.person_key for r in acked], pa.string()),
            "provider_id": pa.array([outcomes[r.object_key].provider_id or r.provider_id for r in acked], pa.string()),
            "fields_hash": pa.array([r.fields_hash for r in acked], pa.string()),
            "identifiers": pa.array([list(r.identifiers) for r in acked], pa.list_(pa.string())),
            # a record we did not find before writing is ours; unknown (None) counts as not ours: never deleted
            "created": pa.array([outcomes[r.object_key].created is True for r in acked], pa.bool_()),
        }
    )
    con.register("sync_acked", table)
    try:
        con.execute(
            f"""
            insert into {STATE_TABLE}
            select ?, object_type, scope, object_key, person_key, provider_id, fields_hash, identifiers, created,
                ?, ?, ? from sync_acked
            on conflict (destination, object_type, scope, object_key) do update set
                person_key = excluded.person_key,
                provider_id = coalesce(excluded.provider_id, {STATE_TABLE}.provider_id),
                fields_hash = excluded.fields_hash,
                identifiers = excluded.identifiers,
                synced_at = excluded.synced_at,
                run_id = excluded.run_id
            """,
            [destination.name, at, at, run_id],
        )
    finally:
        con.unregister("sync_acked")


def _delete_state(
    con: duckdb.DuckDBPyConnection, destination: SyncDestination, object_type: str, scope: str, keys: Sequence[str]
) -> None:
    if keys:
        con.execute(
            f"""delete from {STATE_TABLE}
                where destination = ? and object_type = ? and scope = ? and list_contains(?, object_key)""",
            [destination.name, object_type, scope, list(keys)],
        )


def _send(
    con: duckdb.DuckDBPyConnection,
    destination: SyncDestination,
    op: str,
    object_type: str,
    records: list[SyncRecord],
    run_id: str,
    report: SyncReport,
    failures: dict[tuple[str, str, str], tuple[str, bool]],
) -> None:
    """Sends one op's records in batches (per scope), committing each batch's state after its acknowledgement."""
    by_scope: dict[str, list[SyncRecord]] = {}
    for record in records:
        by_scope.setdefault(record.scope, []).append(record)
    size = destination.max_batch_size(object_type)
    for scope, scoped in by_scope.items():
        for start in range(0, len(scoped), size):
            batch = scoped[start : start + size]
            if op == "remove":
                results = destination.remove(object_type, scope, batch)
            elif op == "update" and object_type == AUDIENCE_MEMBER:
                results = _replace_members(con, destination, scope, batch)
            else:
                results = destination.upsert(object_type, scope, batch)
            outcomes = {o.object_key: o for o in results}
            con.execute("begin transaction")
            if op == "remove":
                _delete_state(con, destination, object_type, scope, [k for k, o in outcomes.items() if o.ok])
            else:
                _commit_written(con, destination, batch, outcomes, run_id, _now())
            con.execute("commit")
            for record in batch:
                outcome = outcomes.get(record.object_key)
                if outcome and outcome.ok:
                    report.written[op] = report.written.get(op, 0) + 1
                else:
                    error = outcome.error if outcome else "no result for this record in the destination's answer"
                    retriable = bool(outcome and outcome.retriable)
                    failures[(object_type, scope, record.object_key)] = (error or "failed", retriable)
                    report.failed_records.append(
                        {
                            "object_type": object_type,
                            "scope": scope,
                            "object_key": record.object_key,
                            "op": op,
                            "error": error,
                        }
                    )


def _replace_members(
    con: duckdb.DuckDBPyConnection, destination: SyncDestination, scope: str, batch: list[SyncRecord]
) -> list[SyncOutcome]:
    """A member whose identifiers changed (new email): remove the identifiers we added, then add the new ones.
    Ad platforms have no update; removing first means a failure in between leaves them out, never twice in."""
    old = {
        key: identifiers
        for key, identifiers in con.execute(
            f"""select object_key, identifiers from {STATE_TABLE}
                where destination = ? and object_type = ? and scope = ? and list_contains(?, object_key)""",
            [destination.name, AUDIENCE_MEMBER, scope, [r.object_key for r in batch]],
        ).fetchall()
    }
    removals = [
        SyncRecord(AUDIENCE_MEMBER, scope, r.object_key, r.person_key, {}, "", identifiers=tuple(old[r.object_key]))
        for r in batch
        if r.object_key in old
    ]
    removed = {o.object_key: o for o in destination.remove(AUDIENCE_MEMBER, scope, removals)} if removals else {}
    failed_removals = {k: o for k, o in removed.items() if not o.ok}
    added = destination.upsert(AUDIENCE_MEMBER, scope, [r for r in batch if r.object_key not in failed_removals])
    return [*failed_removals.values(), *added]


def _erasures(con: duckdb.DuckDBPyConnection, destination: SyncDestination, run_id: str, report: SyncReport) -> None:
    """Carries out the pending erasure deletions queued for this kind of destination: deletes what this project
    wrote for the person (contacts it created, their deals; audience members it added), forgets records it
    did not create, and marks each request 'done' (or leaves it 'pending' with the reason in the ledger)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'activation' "
        "and table_name = 'erasure_deletions'"
    ).fetchone()[0]
    if not exists:
        return
    requests = con.execute(
        f"""select action_id, external_id, email_sha256 from {ERASURE_DELETIONS}
            where state = 'pending' and destination_kind = ? order by action_id""",
        [destination.kind],
    ).fetchall()
    for action_id, external_id, email_hashes in requests:
        if destination.kind == "crm":
            matches = con.execute(
                f"""select object_type, scope, object_key, person_key, provider_id, written_by_us
                    from {STATE_TABLE} where destination = ? and person_key = ? order by object_type, object_key""",
                [destination.name, external_id],
            ).fetchall()
        else:
            matches = con.execute(
                f"""select object_type, scope, object_key, person_key, provider_id, written_by_us
                    from {STATE_TABLE}
                    where destination = ? and list_has_any(identifiers, ?) order by scope, object_key""",
                [destination.name, list(email_hashes or [])],
            ).fetchall()
        errors, deleted, forgotten, transient = [], 0, 0, True
        # deals before the contact they are associated with
        for object_type, scope, key, person, provider_id, ours in sorted(matches, key=lambda m: m[0] != DEAL):
            if not ours:
                _delete_state(con, destination, object_type, scope, [key])
                forgotten += 1
                continue
            identifiers = con.execute(
                f"""select identifiers from {STATE_TABLE}
                    where destination = ? and object_type = ? and scope = ? and object_key = ?""",
                [destination.name, object_type, scope, key],
            ).fetchone()[0]
            record = SyncRecord(object_type, scope, key, person, {}, "", provider_id, tuple(identifiers or ()))
            outcome = destination.remove(object_type, scope, [record], erasure=True)[0]
            if outcome.ok:
                _delete_state(con, destination, object_type, scope, [key])
                deleted += 1
            else:
                errors.append(f"{object_type}: {outcome.error}")
                transient = transient and outcome.retriable
        done = not errors
        detail = (
            f"deleted {deleted} records this project wrote, forgot {forgotten} it did not create"
            if done
            else "; ".join(errors)
        )
        now = _now()
        # record_intent commits on its own; the request's state and its ledger result commit together after it
        ledger.record_intent(con, destination.name, [action_id], run_id, now)
        con.execute("begin transaction")
        if done:
            con.execute(f"update {ERASURE_DELETIONS} set state = 'done' where action_id = ?", [action_id])
        state = "sent" if done else ("dead" if transient else "failed")
        ledger.mark_results(
            con, destination.name, [(action_id, state, detail if done else None, None if done else detail)], now
        )
        con.execute("commit")
        if done:
            report.erasures_done += 1
        else:
            report.erasures_failed += 1


def _mark_actions(
    con: duckdb.DuckDBPyConnection,
    destination: SyncDestination,
    actions_relation: str,
    failures: dict[tuple[str, str, str], tuple[str, bool]],
    run_id: str,
    report: SyncReport,
) -> None:
    """Each due action of the kind is 'sent' once the sync has applied what the journeys want now, 'failed' or
    'dead' with the reason otherwise. An action that a later fact superseded (an add for a member who already
    left the journey, a remove for a member added again, an upsert for a customer gone from the warehouse) is
    'sent' with provider_message_id 'sync:<destination>:superseded': nothing was sent for it, by design."""
    rows = con.execute(
        f"""
        with actions as (
            select
                actions.action_id,
                json_extract_string(actions.action_config, '$.operation') as operation,
                case
                    when actions.action_kind = 'audience' then '{AUDIENCE_MEMBER}'
                    when json_extract_string(actions.action_config, '$.operation') = 'create_deal' then '{DEAL}'
                    else '{CONTACT}'
                end as object_type,
                case when actions.action_kind = 'audience'
                    then json_extract_string(actions.action_config, '$.audience') else '' end as scope,
                case when json_extract_string(actions.action_config, '$.operation') = 'create_deal'
                    then actions.action_id else actions.customer_id end as object_key
            from {actions_relation} as actions
            where actions.destination = ?
        )
        select
            actions.action_id, actions.object_type, actions.scope, actions.object_key,
            (actions.operation = 'remove') = (desired.object_key is not null) as is_superseded
        from actions
        left join sync_desired as desired
            on actions.object_type = desired.object_type
            and actions.scope = desired.scope
            and actions.object_key = desired.object_key
        order by actions.action_id
        """,
        [destination.kind],
    ).fetchall()
    if not rows:
        return
    results = []
    for action_id, object_type, scope, key, is_superseded in rows:
        if object_type not in destination.object_types:
            error, retriable = f"{destination.name} does not support {object_type} records", False
        else:
            error, retriable = failures.get((object_type, scope, key), (None, False))
        state = "sent" if error is None else ("dead" if retriable else "failed")
        message_id = f"sync:{destination.name}{':superseded' if is_superseded else ''}" if error is None else None
        results.append((action_id, state, message_id, error))
    now = _now()
    # an action left 'pending' by a crash here is still due: the next sync marks it again
    ledger.record_intent(con, destination.name, [r[0] for r in results], run_id, now)
    con.execute("begin transaction")
    ledger.mark_results(con, destination.name, results, now)
    con.execute("commit")
    report.actions_sent += sum(r[1] == "sent" for r in results)
    report.actions_failed += sum(r[1] == "failed" for r in results)
    report.actions_dead += sum(r[1] == "dead" for r in results)


def sync(
    con: duckdb.DuckDBPyConnection,
    destination: SyncDestination,
    run_id: str,
    relations: dict[str, str] | None = None,
    actions_relation: str = "policy.actions_due",
    dry_run: bool = False,
    volume_cap: VolumeCap | None = None,
) -> SyncReport:
    """One diff sync of `destination` (see the module docstring for the steps).

    `volume_cap` (the core's safety cap) is applied to the size of the diff: a diff far above the recent normal,
    such as an upstream table that came back empty and would remove every member and contact, is held (nothing
    sent, nothing marked) until a person approves it (`python -m activations.cli approve`). Erasure deletions
    are not held."""
    ledger.ensure_ledger(con)
    started = time.monotonic()
    stats = getattr(getattr(destination, "client", None), "stats", None)
    requests_before, retries_before = (stats.requests, stats.retries) if stats else (0, 0)
    report = SyncReport(destination=destination.name, dry_run=dry_run)
    report.planned = plan(con, destination, relations)
    started_at = _now()

    def finish(is_held: bool = False) -> SyncReport:
        ledger.record_run(
            con,
            run_id=run_id,
            destination=destination.name,
            started_at=started_at,
            finished_at=_now(),
            due=report.requests_needed,  # the history the volume cap compares with is in diff records
            sent=sum(report.written.values()),
            failed=len(report.failed_records),
            dead=report.actions_dead,
            retried=report.retried,
            is_dry_run=dry_run,
            is_held=is_held,
        )
        return report

    if dry_run:
        return finish()
    _erasures(con, destination, run_id, report)
    # the erasures may have removed state rows the plan was built on: plan again
    report.planned = plan(con, destination, relations)
    decision = check_volume(
        con, destination.name, report.requests_needed, volume_cap or VolumeCap(enabled=False), run_id, _now()
    )
    if not decision.allowed:
        report.held_by_volume_cap, report.hold_id, report.volume_cap = True, decision.hold_id, decision.cap
        log.warning(
            "%s: a diff of %d records is above the volume cap %d (recent normal %.0f): held until approved (hold %s)",
            destination.name,
            report.requests_needed,
            decision.cap,
            decision.normal,
            decision.hold_id,
        )
        return finish(is_held=True)
    failures: dict[tuple[str, str, str], tuple[str, bool]] = {}
    for object_type in destination.object_types:
        for op in ("add", "update", "remove"):
            records = _records(con, destination, object_type, op)
            if records:
                _send(con, destination, op, object_type, records, run_id, report, failures)
        released = con.execute(
            "select scope, list(object_key) from sync_plan where object_type = ? and op = 'release' group by scope",
            [object_type],
        ).fetchall()
        for scope, keys in released:
            con.execute("begin transaction")
            _delete_state(con, destination, object_type, scope, keys)
            con.execute("commit")
            report.released += len(keys)
    _mark_actions(con, destination, actions_relation, failures, run_id, report)
    if stats:
        report.requests = stats.requests - requests_before
        report.retried = stats.retries - retries_before
    report.duration_s = round(time.monotonic() - started, 3)
    finish()
    log.info(
        "%s: planned %s, written %s, %d failed, %d released, erasures %d done / %d failed",
        destination.name,
        report.planned,
        report.written,
        len(report.failed_records),
        report.released,
        report.erasures_done,
        report.erasures_failed,
    )
    return report
