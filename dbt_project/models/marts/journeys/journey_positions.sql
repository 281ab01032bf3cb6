{#-
    Where every active enrollment is now: its current node, since when, and what it waits for until when.
-#}
{%- set attribute_delays = journey_config_rows('journey_nodes', "delay_kind = 'attribute'") -%}
{%- set customer_columns = journey_relation_columns(ref('customers')) -%}
{%- set customer_time_zone = "coalesce(customers.time_zone, 'UTC')" -%}

with

enrollments as (

    select * from {{ ref('journey_enrollments') }}

),

transitions as (

    select * from {{ ref('journey_transitions') }}

),

journey_nodes as (

    select * from {{ source('journey_config', 'journey_nodes') }}

),

customers as (

    select * from {{ ref('customers') }}

),

-- per local_window node, time zone and local day: where an arrival on that day is released (as in the walk)
local_windows as (

    select * from {{ ref('int_journey_local_windows') }}

),

-- the last step of each enrollment
{{ journey_last_steps('current_steps') }},

positions as (

    select
        enrollments.enrollment_id,
        enrollments.journey_id,
        enrollments.customer_id,
        current_steps.to_node as node_id,
        journey_nodes.node_type,
        case
            when journey_nodes.node_type = 'wait_for' then 'event'
            when journey_nodes.node_type = 'delay' then 'time'
            else 'next_run'
        end as waiting_for,
        journey_nodes.wait_event,
        journey_nodes.wait_segment,
        current_steps.transition_at as since,
        case
            when journey_nodes.node_type = 'wait_for'
                then {{ add_seconds('current_steps.transition_at', 'journey_nodes.timeout_seconds') }}
            when journey_nodes.delay_kind = 'duration'
                then {{ add_seconds('current_steps.transition_at', 'journey_nodes.duration_seconds') }}
            when journey_nodes.delay_kind = 'local_window'
                then case
                    when current_steps.transition_at < local_windows.window_end
                        then greatest(current_steps.transition_at, local_windows.window_start)
                    else local_windows.next_window_start
                end
            when journey_nodes.delay_kind = 'attribute' then {{ journey_attribute_moves_at(
                'current_steps.transition_at', customer_time_zone, attribute_delays, customer_columns) }}
        end as waits_until
    from enrollments
    inner join current_steps
        on enrollments.enrollment_id = current_steps.enrollment_id
    left join journey_nodes
        on
            current_steps.journey_id = journey_nodes.journey_id
            and current_steps.to_node = journey_nodes.node_id
    left join customers
        on enrollments.customer_id = customers.customer_id
    left join local_windows
        on
            journey_nodes.delay_kind = 'local_window'
            and current_steps.journey_id = local_windows.journey_id
            and current_steps.to_node = local_windows.node_id
            and {{ customer_time_zone }} = local_windows.time_zone
            and cast({{ local_time_of_utc('current_steps.transition_at', customer_time_zone) }} as date)
            = local_windows.local_day
    where enrollments.status = 'active'

)

select * from positions
