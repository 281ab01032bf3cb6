{#-
    The facts split-branch conditions of kinds has_event, in_segment and not_in_segment test
    (docs/journey_semantics.md, "Conditions"), one row per customer and event (fact_kind 'event', ends_at null)
    or segment membership (fact_kind 'segment', ends_at its exited_at, null while open), with the start of the
    next fact of the same customer and name. Only the event and segment names that some branch condition tests
    are kept.

    The walk (journey_transitions) finds the latest fact that started at or before `at` with one join:
    starts_at <= at < next_starts_at (next null for the last). has_event within w holds at `at` when that fact
    started after at - w; a membership holds when it has not ended by `at` (memberships of one customer and
    segment do not overlap).
-#}
{{ config(materialized='table') }}

{%- set conditions = journey_config_rows(
    'journey_conditions', "scope = 'branch' and kind in ('has_event', 'in_segment', 'not_in_segment')") -%}
{%- set event_names = conditions
    | selectattr('kind', 'equalto', 'has_event') | map(attribute='name') | unique | list -%}
{%- set segment_names = conditions
    | rejectattr('kind', 'equalto', 'has_event') | map(attribute='name') | unique | list %}
-- depends_on: {{ ref('segment_memberships') }}

with

facts as (

    select
        customer_id,
        'event' as fact_kind,
        event_name as fact_name,
        occurred_at as starts_at,
        cast(null as timestamp) as ends_at
    from {{ ref('int_journey_events') }}
    where event_name in ({{ policy_string_list(event_names) if event_names else 'null' }})

    union all

    select
        customer_id,
        'segment' as fact_kind,
        segment_name as fact_name,
        entered_at as starts_at,
        exited_at as ends_at
    from {{ ref('segment_memberships') }}
    where segment_name in ({{ policy_string_list(segment_names) if segment_names else 'null' }})

)

select
    customer_id,
    fact_kind,
    fact_name,
    starts_at,
    ends_at,
    lead(starts_at) over (partition by customer_id, fact_kind, fact_name order by starts_at) as next_starts_at
from facts
