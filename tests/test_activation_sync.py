"""Diff-based sync against real local HubSpot, Salesforce and Meta servers and a real DuckDB warehouse.

Each scenario builds the few warehouse rows it needs (decided actions, enrollments, customers), syncs, and
checks what the server holds, how many requests it accepted and what the send ledger says.
"""

from __future__ import annotations

import json
import logging
import random
import re
from datetime import datetime, timedelta

import duckdb
import pytest

from activations.destinations.hubspot import HubSpotDestination
from activations.destinations.meta_audiences import MetaAudiencesDestination, member_identifiers
from activations.destinations.salesforce import SalesforceDestination
from activations.limits import RetryPolicy
from activations.sync import STATE_TABLE, sync
from activations.sync_transport import JsonHttpClient
from tests.local_apis.hubspot import HubSpotApi
from tests.local_apis.meta import MetaApi
from tests.local_apis.salesforce import SalesforceApi

T0 = datetime(2026, 11, 1, 9, 0)
AUDIENCE = "browse_abandoners_retargeting"
AUDIENCE_ID = "2384001"
FAST_RETRY = RetryPolicy(max_attempts=10, base_s=0.005, max_backoff_s=0.05, max_retry_after_s=5)


class Warehouse:
    """The relations the sync reads, with only the columns it reads, filled by named scenario steps."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("create schema policy; create schema journeys; create schema identity")
        self.con.execute(
            "create table policy.policy_decisions (action_id varchar, evaluation_number integer, state varchar)"
        )
        self.con.execute(
            """create table journeys.journey_actions (action_id varchar, enrollment_id varchar, journey_id varchar,
                customer_id varchar, node_id varchar, action_kind varchar, action_config varchar,
                scheduled_at timestamp)"""
        )
        self.con.execute("create table journeys.journey_enrollments (enrollment_id varchar, status varchar)")
        self.con.execute(
            """create table identity.customers (customer_id varchar, email varchar, phone varchar,
                first_name varchar, country_code varchar, lifetime_revenue double)"""
        )
        self.con.execute("create schema activation")
        self.con.execute(
            """create table activation.send_ledger (action_id varchar not null, destination varchar not null,
                state varchar not null, attempts integer not null, first_attempt_at timestamp not null,
                last_attempt_at timestamp not null, provider_message_id varchar, error varchar,
                run_id varchar not null, primary key (action_id, destination))"""
        )
        # what activation may send now: due and not sent (policy.actions_due in the real warehouse)
        self.con.execute(
            """create view policy.actions_due as
               select actions.action_id, actions.customer_id, actions.action_kind as destination,
                   actions.action_kind, actions.action_config
               from journeys.journey_actions as actions
               inner join (
                   select action_id, state from policy.policy_decisions
                   qualify row_number() over (partition by action_id order by evaluation_number desc) = 1
               ) as latest on latest.action_id = actions.action_id and latest.state = 'due'
               where actions.action_id not in (
                   select action_id from activation.send_ledger where state = 'sent')"""
        )
        self.runs = 0

    def customer(self, customer_id: str, email: str | None, phone: str | None = None, first_name: str = "Ann"):
        self.con.execute(
            "insert into identity.customers values (?, ?, ?, ?, 'GB', 250.0)", [customer_id, email, phone, first_name]
        )

    def action(
        self,
        customer_id: str,
        node: str,
        config: dict,
        at: datetime,
        enrollment: str | None = None,
        state: str = "due",
        kind: str | None = None,
    ) -> str:
        enrollment = enrollment or f"enr_{customer_id}"
        action_id = f"act_{customer_id}_{node}"
        kind = kind or config["kind"]
        if not self.con.execute(
            "select count(*) from journeys.journey_enrollments where enrollment_id = ?", [enrollment]
        ).fetchone()[0]:
            self.con.execute("insert into journeys.journey_enrollments values (?, 'active')", [enrollment])
        self.con.execute(
            "insert into journeys.journey_actions values (?, ?, 'j', ?, ?, ?, ?, ?)",
            [action_id, enrollment, customer_id, node, kind, json.dumps(config), at],
        )
        self.con.execute("insert into policy.policy_decisions values (?, 1, ?)", [action_id, state])
        return action_id

    def add_to_audience(self, customer_id: str, at: datetime = T0) -> str:
        return self.action(customer_id, "add", {"kind": "audience", "operation": "add", "audience": AUDIENCE}, at)

    def remove_from_audience(self, customer_id: str, at: datetime) -> str:
        return self.action(customer_id, "remove", {"kind": "audience", "operation": "remove", "audience": AUDIENCE}, at)

    def upsert_contact(self, customer_id: str, at: datetime = T0) -> str:
        return self.action(
            customer_id,
            "crm_contact",
            {
                "kind": "crm",
                "operation": "upsert_contact",
                "properties": {"lifecycle_stage": "customer"},
                "fields": ["email", "first_name"],
            },
            at,
        )

    def create_deal(self, customer_id: str, at: datetime = T0) -> str:
        return self.action(
            customer_id,
            "crm_deal",
            {
                "kind": "crm",
                "operation": "create_deal",
                "properties": {"pipeline": "mortgage", "stage": "pre_q"},
                "fields": ["lifetime_revenue"],
            },
            at,
        )

    def sync(self, destination):
        self.runs += 1
        return sync(self.con, destination, run_id=f"run{self.runs}")

    def ledger(self) -> dict[str, tuple]:
        return {
            r[0]: r[1:]
            for r in self.con.execute(
                "select action_id, state, error from activation.send_ledger order by 1"
            ).fetchall()
        }


def _client(api, token: str, rng_seed: int = 0) -> JsonHttpClient:
    return JsonHttpClient(
        api.url,
        {"Authorization": f"Bearer {token}"},
        retry=FAST_RETRY,
        timeout_s=0.3,
        requests_per_second=1000,
        burst=100,
        rng=random.Random(rng_seed),
    )


@pytest.fixture
def meta():
    with MetaApi(audience_ids=(AUDIENCE_ID,)) as api:
        yield (
            api,
            MetaAudiencesDestination("EAAtesttoken", {AUDIENCE: AUDIENCE_ID}, client=_client(api, "EAAtesttoken")),
        )


@pytest.fixture
def hubspot():
    with HubSpotApi() as api:
        yield api, HubSpotDestination("pat-test-token", client=_client(api, "pat-test-token"))


# -- audiences --------------------------------------------------------------------------------------------------
def test_member_added_then_nothing_changes_sends_nothing(meta):
    api, destination = meta
    wh = Warehouse()
    wh.customer("c1", " Ann@Example.com ", "+44 20 7946 0958")
    action = wh.add_to_audience("c1")

    report = wh.sync(destination)
    assert report.written == {"add": 1}
    assert api.members[AUDIENCE_ID] == {member_identifiers("ann@example.com", "442079460958")}
    assert wh.ledger()[action][0] == "sent"

    requests_before = api.received
    report = wh.sync(destination)
    assert report.planned == {} and api.received == requests_before  # nothing changed: zero requests


def test_member_leaves_is_removed_with_the_identifiers_we_added(meta):
    api, destination = meta
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    wh.customer("c2", "bob@example.com")
    wh.add_to_audience("c1")
    wh.add_to_audience("c2")
    wh.sync(destination)
    assert len(api.members[AUDIENCE_ID]) == 2

    # c1's email changes after the add: the removal must still name the hash that was added
    wh.con.execute("update identity.customers set email = 'ann.new@example.com' where customer_id = 'c1'")
    remove = wh.remove_from_audience("c1", T0 + timedelta(days=3))
    report = wh.sync(destination)
    assert report.written == {"remove": 1}
    assert api.email_hashes(AUDIENCE_ID) == {member_identifiers("bob@example.com", None)[0]}
    assert wh.ledger()[remove][0] == "sent"
    assert wh.con.execute(f"select list(object_key) from {STATE_TABLE}").fetchone()[0] == ["c2"]


def test_member_whose_enrollment_ended_before_the_remove_step_is_removed(meta):
    api, destination = meta
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    wh.add_to_audience("c1")
    wh.sync(destination)
    wh.con.execute("update journeys.journey_enrollments set status = 'exited' where enrollment_id = 'enr_c1'")
    report = wh.sync(destination)
    assert report.written == {"remove": 1} and api.members[AUDIENCE_ID] == set()
    # an add decided for someone who left before the sync ran is superseded: recorded, nothing sent
    wh.customer("c2", "bob@example.com")
    late_add = wh.add_to_audience("c2")
    wh.con.execute("update journeys.journey_enrollments set status = 'completed' where enrollment_id = 'enr_c2'")
    before = api.received
    wh.sync(destination)
    assert api.received == before
    assert wh.con.execute(
        "select state, provider_message_id from activation.send_ledger where action_id = ?", [late_add]
    ).fetchone() == ("sent", "sync:meta_audiences:superseded")


def test_changed_email_replaces_the_member(meta):
    api, destination = meta
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    wh.add_to_audience("c1")
    wh.sync(destination)
    wh.con.execute("update identity.customers set email = 'ann@work.example' where customer_id = 'c1'")
    report = wh.sync(destination)
    assert report.written == {"update": 1}
    assert api.email_hashes(AUDIENCE_ID) == {member_identifiers("ann@work.example", None)[0]}


def test_unknown_audience_fails_the_action_with_the_reason(meta):
    _, destination = meta
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    action = wh.action("c1", "add_other", {"kind": "audience", "operation": "add", "audience": "no_such"}, T0)
    wh.sync(destination)
    state, error = wh.ledger()[action]
    assert state == "failed" and "no_such" in error and "audience_ids" in error


def test_identifier_hashing_in_sql_equals_python():
    wh = Warehouse()
    cases = [(" Ann.Smith@Example.COM ", "+1 (650) 555-1212"), ("bob@example.com", None), ("c@x.io", "0044 20-79")]
    for i, (email, phone) in enumerate(cases):
        wh.customer(f"c{i}", email, phone)
        wh.add_to_audience(f"c{i}")
    from activations.sync import DEFAULT_RELATIONS, desired_audience_members_sql

    rows = dict(
        wh.con.execute(
            f"select object_key, identifiers from ({desired_audience_members_sql(DEFAULT_RELATIONS)})"
        ).fetchall()
    )
    for i, (email, phone) in enumerate(cases):
        assert tuple(rows[f"c{i}"]) == member_identifiers(email, phone)
    assert member_identifiers(None, "+1 (650) 555-1212")[1] == member_identifiers(None, "16505551212")[1]


# -- CRM --------------------------------------------------------------------------------------------------------
def test_field_change_is_one_update_and_no_change_is_no_request(hubspot):
    api, destination = hubspot
    wh = Warehouse()
    wh.customer("c1", "ann@example.com", first_name="Ann")
    wh.customer("c2", "bob@example.com", first_name="Bob")
    wh.upsert_contact("c1")
    wh.upsert_contact("c2")
    report = wh.sync(destination)
    assert report.written == {"add": 2}
    contact_id, properties = api.contact_by_email("ann@example.com")
    assert properties["firstname"] == "Ann" and properties["lifecyclestage"] == "customer"
    assert properties["journeys_customer_id"] == "c1"

    wh.con.execute("update identity.customers set first_name = 'Anne' where customer_id = 'c1'")
    before = api.received
    report = wh.sync(destination)
    assert report.written == {"update": 1} and api.received == before + 1
    assert api.contacts[contact_id]["firstname"] == "Anne"

    before = api.received
    assert wh.sync(destination).planned == {} and api.received == before


def test_contact_created_by_someone_else_is_updated_but_never_deleted(hubspot):
    api, destination = hubspot
    theirs = api.seed_contact({"email": "ann@example.com", "firstname": "Ann", "owner": "sales"})
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    wh.customer("c2", "bob@example.com")
    wh.upsert_contact("c1")
    wh.upsert_contact("c2")
    wh.sync(destination)
    assert api.contacts[theirs]["journeys_customer_id"] == "c1"  # same record, updated
    ours = api.contact_by_email("bob@example.com")[0]
    flags = dict(wh.con.execute(f"select object_key, written_by_us from {STATE_TABLE}").fetchall())
    assert flags == {"c1": False, "c2": True}

    # both people leave the desired state (their rows are gone from the warehouse)
    wh.con.execute("delete from identity.customers")
    report = wh.sync(destination)
    assert report.written == {"remove": 1} and report.released == 1
    assert theirs in api.contacts and ours not in api.contacts and api.archived == [ours]


def test_deal_created_once_and_associated_with_the_contact(hubspot):
    api, destination = hubspot
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    wh.upsert_contact("c1")
    deal_action = wh.create_deal("c1", T0 + timedelta(days=180))
    wh.sync(destination)
    ((deal_id, deal),) = api.deals.items()
    assert deal["journeys_action_id"] == deal_action and deal["pipeline"] == "mortgage"
    assert "email" not in deal  # personal fields stay on the contact
    assert api.associations == {(deal_id, api.contact_by_email("ann@example.com")[0])}
    wh.con.execute("update identity.customers set lifetime_revenue = 900 where customer_id = 'c1'")
    before = api.received
    wh.sync(destination)
    assert api.received == before and len(api.deals) == 1  # a deal is created once, not updated


def test_erasure_deletes_what_we_wrote_and_marks_the_request_done(hubspot, meta):
    api, destination = hubspot
    meta_api, meta_destination = meta
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    wh.upsert_contact("c1")
    wh.create_deal("c1")
    wh.add_to_audience("c1")
    wh.sync(destination)
    wh.sync(meta_destination)
    contact_id = api.contact_by_email("ann@example.com")[0]
    # what orchestration/erasure.py does: rows gone, deletions queued
    wh.con.execute("delete from identity.customers; delete from journeys.journey_actions")
    wh.con.execute(
        """create table activation.erasure_deletions (action_id varchar primary key, request_id varchar,
            destination varchar, destination_kind varchar, operation varchar, external_id varchar,
            email_sha256 varchar[], state varchar, created_at timestamp, run_id varchar)"""
    )
    email_hash = member_identifiers("ann@example.com", None)[0]
    wh.con.execute(
        """insert into activation.erasure_deletions values
            ('del_crm', 'r1', 'crm', 'crm', 'delete_contact', 'c1', [], 'pending', now(), 'e'),
            ('del_aud', 'r1', 'ad_audience', 'audience', 'remove_member', null, [?], 'pending', now(), 'e')""",
        [email_hash],
    )
    assert wh.sync(destination).erasures_done == 1
    assert wh.sync(meta_destination).erasures_done == 1
    assert api.gdpr_deleted == [contact_id] and api.deals == {} and meta_api.members[AUDIENCE_ID] == set()
    assert wh.con.execute("select list(state order by action_id) from activation.erasure_deletions").fetchone()[0] == [
        "done",
        "done",
    ]
    assert wh.con.execute(f"select count(*) from {STATE_TABLE}").fetchone()[0] == 0
    assert wh.ledger()["del_crm"][0] == "sent"


def test_salesforce_upsert_by_external_id_and_delete():
    with SalesforceApi() as api:
        destination = SalesforceDestination("00Dtest!token", api.url, client=_client(api, "00Dtest!token"))
        wh = Warehouse()
        wh.customer("c1", "ann@example.com")
        wh.customer("c2", "bob@example.com")
        wh.upsert_contact("c1")
        wh.upsert_contact("c2")
        deal = wh.create_deal("c1")
        report = wh.sync(destination)
        assert report.written == {"add": 2}
        records = {f["Journeys_Customer_Id__c"]: f for f in api.contacts.values()}
        assert records["c1"]["Email"] == "ann@example.com" and records["c1"]["Lifecycle_Stage__c"] == "customer"
        assert records["c1"]["LastName"] == "(unknown)"
        assert wh.ledger()[deal] == ("failed", "salesforce does not support deal records")
        wh.con.execute("delete from identity.customers where customer_id = 'c2'")
        assert wh.sync(destination).written == {"remove": 1}
        assert [f["Journeys_Customer_Id__c"] for f in api.contacts.values()] == ["c1"]


def test_final_error_is_recorded_per_record_without_personal_data(hubspot):
    _, destination = hubspot
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    wh.customer("c2", "not-an-email")
    good, bad = wh.upsert_contact("c1"), wh.upsert_contact("c2")
    wh.sync(destination)
    ledger = wh.ledger()
    assert ledger[good][0] == "sent"
    assert ledger[bad][0] == "failed" and "VALIDATION_ERROR" in ledger[bad][1]
    assert "not-an-email" not in ledger[bad][1]
    # the refused record is not in the state: the next sync tries it again, and succeeds once the data is fixed
    assert wh.con.execute(f"select list(object_key) from {STATE_TABLE}").fetchone()[0] == ["c1"]
    wh.con.execute("update identity.customers set email = 'bob@example.com' where customer_id = 'c2'")
    assert wh.sync(destination).written == {"add": 1}
    assert wh.ledger()[bad][0] == "sent"


# -- faults -----------------------------------------------------------------------------------------------------
FAULTS = ("429", "500", "stall", "drop", "drop_after_accept")


def test_every_change_arrives_once_under_faults(caplog):
    """A third of all requests fail (429 + Retry-After, 500, stalls past the client timeout, connections dropped
    before and after the server processed the request). The sync runs until nothing is left to do; the servers
    must then hold exactly the desired state, no record twice, and every action must be in the ledger."""
    caplog.set_level(logging.INFO, logger="activations")
    with (
        HubSpotApi(fault_rate=0.33, seed=5, faults=FAULTS, retry_after_s=1, stall_s=0.4) as hs_api,
        MetaApi(
            audience_ids=(AUDIENCE_ID,), fault_rate=0.33, seed=6, faults=FAULTS, retry_after_s=1, stall_s=0.4
        ) as meta_api,
        SalesforceApi(fault_rate=0.33, seed=9, faults=FAULTS, retry_after_s=1, stall_s=0.4) as sf_api,
    ):
        hubspot = HubSpotDestination("pat-test-token", client=_client(hs_api, "pat-test-token", 1), batch_size=10)
        salesforce = SalesforceDestination(
            "00Dtest!token", sf_api.url, client=_client(sf_api, "00Dtest!token", 3), batch_size=8
        )
        meta = MetaAudiencesDestination(
            "EAAtesttoken",
            {AUDIENCE: AUDIENCE_ID},
            max_rows_per_request=10,
            client=_client(meta_api, "EAAtesttoken", 2),
        )
        theirs = hs_api.seed_contact({"email": "p0@example.com", "owner": "sales"})
        wh = Warehouse()
        for i in range(120):
            wh.customer(f"p{i}", f"p{i}@example.com", f"+4477009{i:05d}")
            wh.upsert_contact(f"p{i}")
            wh.add_to_audience(f"p{i}")
            if i % 10 == 0:
                wh.create_deal(f"p{i}", T0 + timedelta(days=1))

        def converge():
            for _ in range(5):
                failed = [wh.sync(d).failed_records for d in (hubspot, meta, salesforce)]
                if not any(failed):
                    break

        converge()
        # a second day: 30 people leave the audience, 20 change their name, 10 are gone from the warehouse
        for i in range(30):
            wh.remove_from_audience(f"p{i}", T0 + timedelta(days=3))
        wh.con.execute(
            "update identity.customers set first_name = 'Changed' where customer_id in "
            "(select 'p' || i from range(30, 50) as t(i))"
        )
        wh.con.execute(
            "delete from identity.customers where customer_id in (select 'p' || i from range(110, 120) as t(i))"
        )
        converge()

        # the servers hold exactly the desired state
        expected_members = {member_identifiers(f"p{i}@example.com", f"+4477009{i:05d}") for i in range(30, 110)}
        assert meta_api.members[AUDIENCE_ID] == expected_members
        emails = sorted(p.get("email") for p in hs_api.contacts.values())
        assert emails == sorted(f"p{i}@example.com" for i in range(110))  # no contact twice, p0 is theirs
        assert theirs in hs_api.contacts
        assert all(
            hs_api.contacts[c]["firstname"] == "Changed"
            for c, p in hs_api.contacts.items()
            if p["journeys_customer_id"] in {f"p{i}" for i in range(30, 50)}
        )
        assert sorted(d["journeys_action_id"] for d in hs_api.deals.values()) == sorted(
            f"act_p{i}_crm_deal" for i in range(0, 110, 10)
        )
        # every action delivered and recorded; deliveries beyond one per record only where a processed
        # request's answer was lost (drop_after_accept), and then with the same upsert key
        ledger = wh.con.execute(
            "select destination, state, coalesce(error, ''), count(*) from activation.send_ledger group by all"
        ).fetchall()
        by_destination = {}
        for destination, state, error, count in ledger:
            by_destination.setdefault(destination, {})[(state, error)] = count
        assert by_destination["hubspot"] == {("sent", ""): 120 + 12}
        assert by_destination["meta_audiences"] == {("sent", ""): 120 + 30}
        # salesforce shares the CRM actions with hubspot here (already marked sent): its server state is checked
        sf_keys = sorted(f["Journeys_Customer_Id__c"] for f in sf_api.contacts.values())
        assert sf_keys == sorted(f"p{i}" for i in range(110))
        assert set(hs_api.injected) | set(meta_api.injected) | set(sf_api.injected) == set(FAULTS)
        # the logs told the story (retries) without a token, an email, a phone number or a hashed identifier
        assert "retry" in caplog.text
        for secret in ("pat-test-token", "EAAtesttoken", "00Dtest!token", "@example.com", "+4477009"):
            assert secret not in caplog.text
        assert re.search(r"[0-9a-f]{64}", caplog.text) is None
        failures = wh.con.execute("select string_agg(coalesce(error, ''), ' ') from activation.send_ledger").fetchone()
        assert "@" not in (failures[0] or "")
        for api in (hs_api, meta_api, sf_api):
            summary = api.summary()
            assert summary["fault_share"] >= 0.2, summary
            extra = sum(n - 1 for n in api.delivery_counts().values())
            assert extra <= api.injected["drop_after_accept"] * 10, (extra, summary)
            print(api.name, summary, "repeated deliveries:", extra)


def test_meta_session_fields_when_an_upload_spans_several_requests():
    with MetaApi(audience_ids=(AUDIENCE_ID,)) as api:
        destination = MetaAudiencesDestination(
            "EAAtesttoken", {AUDIENCE: AUDIENCE_ID}, max_rows_per_request=3, client=_client(api, "EAAtesttoken")
        )
        wh = Warehouse()
        for i in range(7):
            wh.customer(f"c{i}", f"c{i}@example.com")
            wh.add_to_audience(f"c{i}")
        wh.sync(destination)
        assert list(api.sessions.values()) == [[1, 2, 3]] and len(api.members[AUDIENCE_ID]) == 7


def test_retry_after_is_honoured_and_exhausted_retries_leave_the_action_dead():
    waits: list[float] = []
    with HubSpotApi(fault_rate=1.0, faults=("429",), retry_after_s=2) as api:
        client = JsonHttpClient(
            api.url,
            {"Authorization": "Bearer pat-test-token"},
            retry=RetryPolicy(max_attempts=3, base_s=0.01, max_backoff_s=0.02),
            sleep=waits.append,
        )
        destination = HubSpotDestination("pat-test-token", client=client)
        wh = Warehouse()
        wh.customer("c1", "ann@example.com")
        action = wh.upsert_contact("c1")
        wh.sync(destination)
    assert len(waits) == 2 and min(waits) >= 2.0  # 3 attempts: each retry waited at least the Retry-After
    state, error = wh.ledger()[action]
    assert state == "dead" and "HTTP 429" in error and "pat-test-token" not in error
    assert api.summary()["accepted_requests"] == 0


def test_destinations_build_from_the_activations_config(tmp_path, monkeypatch):
    from activations.config import load_config

    config = tmp_path / "destinations.yml"
    config.write_text(
        """
routes:
  - {when: {destination: crm}, send_to: hubspot}
  - {when: {destination: audience}, send_to: meta}
destinations:
  hubspot: {type: hubspot, access_token_env: TEST_HUBSPOT_TOKEN, base_url: "http://127.0.0.1:9"}
  salesforce: {type: salesforce, base_url: "http://127.0.0.1:9"}
  meta: {type: meta_audiences, audience_ids: {browse_abandoners_retargeting: 2384001}}
"""
    )
    monkeypatch.setenv("TEST_HUBSPOT_TOKEN", "pat-x")
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "00Dx")
    monkeypatch.setenv("META_ACCESS_TOKEN", "EAAx")
    loaded = load_config(config)
    hubspot = loaded.build("hubspot", tmp_path)
    meta = loaded.build("meta", tmp_path)
    assert (hubspot.name, hubspot.kind, meta.name, meta.audience_ids) == (
        "hubspot",
        "crm",
        "meta",
        {AUDIENCE: "2384001"},
    )
    assert loaded.build("salesforce", tmp_path).base == "/services/data/v62.0"
    monkeypatch.delenv("META_ACCESS_TOKEN")
    with pytest.raises(RuntimeError, match="META_ACCESS_TOKEN"):
        loaded.build("meta", tmp_path)


def test_a_diff_far_above_the_normal_is_held_until_approved(meta):
    """An upstream table that comes back empty must not silently empty the audience."""
    from activations.volume import VolumeCap, approve

    api, destination = meta
    cap = VolumeCap(factor=3, min_volume=2, history_runs=3, min_history_runs=3)
    wh = Warehouse()
    for i in range(12):
        wh.customer(f"c{i}", f"c{i}@example.com")
    for day in range(3):  # three ordinary days: one new member each
        wh.add_to_audience(f"c{day}", T0 + timedelta(days=day))
        assert sync(wh.con, destination, run_id=f"day{day}", volume_cap=cap).written == {"add": 1}
    for i in range(3, 12):
        wh.add_to_audience(f"c{i}", T0 + timedelta(days=3))
    wh.con.execute("delete from identity.customers where customer_id in ('c0', 'c1', 'c2')")
    before = api.received
    held = sync(wh.con, destination, run_id="day3", volume_cap=cap)
    assert held.held_by_volume_cap and held.written == {} and api.received == before
    assert len(api.members[AUDIENCE_ID]) == 3  # nothing removed, nothing added
    approve(wh.con, held.hold_id, "ops@example.com", datetime(2026, 11, 26))
    released = sync(wh.con, destination, run_id="day3-approved", volume_cap=cap)
    assert released.written == {"add": 9, "remove": 3}
    assert api.email_hashes(AUDIENCE_ID) == {member_identifiers(f"c{i}@example.com", None)[0] for i in range(3, 12)}


def test_contact_without_email_is_upserted_by_our_customer_id(hubspot):
    api, destination = hubspot
    wh = Warehouse()
    wh.customer("c1", None, first_name="Noor")
    action = wh.upsert_contact("c1")
    assert wh.sync(destination).written == {"add": 1}
    (properties,) = api.contacts.values()
    assert properties["journeys_customer_id"] == "c1" and properties["firstname"] == "Noor"
    assert wh.ledger()[action][0] == "sent"
    before = api.received
    assert wh.sync(destination).planned == {} and api.received == before


def test_an_audience_route_in_the_config_is_delivered_by_the_diff_sync(meta, tmp_path, monkeypatch):
    """What the Dagster activation assets and the CLI call (activations.deliver): a route to a sync destination
    reaches the diff sync, not the per-action runner."""
    from activations.config import load_config
    from activations.deliver import deliver

    api, _ = meta
    config = tmp_path / "destinations.yml"
    config.write_text(
        f"""
routes:
  - {{when: {{destination: audience}}, send_to: meta}}
destinations:
  meta: {{type: meta_audiences, base_url: "{api.url}", audience_ids: {{{AUDIENCE}: {AUDIENCE_ID}}}}}
"""
    )
    monkeypatch.setenv("META_ACCESS_TOKEN", "EAAtesttoken")
    loaded = load_config(config)
    wh = Warehouse()
    wh.customer("c1", "ann@example.com")
    action = wh.add_to_audience("c1")
    ((target, relation),) = loaded.relations_for("audience")
    report = deliver(wh.con, loaded.build(target, tmp_path), relation, "run1", config=loaded)
    assert report.written == {"add": 1}
    assert api.members[AUDIENCE_ID] == {member_identifiers("ann@example.com", "")}
    assert wh.ledger()[action][0] == "sent"
