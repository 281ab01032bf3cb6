{#-
    What each wait_for node waits for (docs/journey_semantics.md): one row per wait_for node, customer and
    qualifying moment, with the previous qualifying moment of the same node and customer. A qualifying moment is
    an event named by the node's wait_event that meets its `where` conditions, or an entry into its wait_segment
    (membership as known at as_of). The walk (journey_transitions) finds the first moment after an arrival at
    `at` with one join: previous_occurred_at <= at < occurred_at (previous null for the first).
-#}
{{ config(materialized='table') }}

{%- set wait_conditions = journey_config_rows('journey_conditions', "scope = 'wait_where'") -%}
{%- set segment_wait_nodes = journey_config_rows('journey_nodes', "wait_segment is not null") %}
-- depends_on: {{ ref('segment_memberships') }}

with

wait_nodes as (

    select
        journey_id,
        node_id,
        wait_event,
        wait_segment
    from {{ source('journey_config', 'journey_nodes') }}
    where node_type = 'wait_for'

),

events as (

    select * from {{ ref('int_journey_events') }}

),

qualifying_moments as (

    select
        wait_nodes.journey_id,
        wait_nodes.node_id,
        events.customer_id,
        events.occurred_at
    from wait_nodes
    inner join events
        on wait_nodes.wait_event = events.event_name
    {%- for condition in wait_conditions %}
        {{ 'where' if loop.first else 'and' }} (wait_nodes.journey_id <> '{{ condition["journey_id"] }}'
            or wait_nodes.node_id <> '{{ condition["node_id"] }}'
            or {{ journey_condition_sql(condition, 'events', 'events.customer_id', 'events.occurred_at') }})
    {%- endfor %}
    {%- if segment_wait_nodes %}

    union all

    -- waiting for a segment: only an entry after arrival counts, not being a member already
    select
        wait_nodes.journey_id,
        wait_nodes.node_id,
        segment_memberships.customer_id,
        segment_memberships.entered_at as occurred_at
    from wait_nodes
    inner join {{ ref('segment_memberships') }} as segment_memberships
        on wait_nodes.wait_segment = segment_memberships.segment_name
    where segment_memberships.entered_at <= {{ as_of_timestamp() }}
    {%- endif %}

)

select
    journey_id,
    node_id,
    customer_id,
    occurred_at,
    lag(occurred_at) over (
        partition by journey_id, node_id, customer_id order by occurred_at
    ) as previous_occurred_at
from qualifying_moments
