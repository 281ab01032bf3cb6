{#-
    The funnel of every journey node, per journey version (docs/measurement.md, "Journey analytics"): how many
    enrollments reached it, what its actions became, how many converted afterwards, how many ended there and why,
    how long they stayed, and how many are waiting there now. journey_version is the version whose graph decided
    the arrival. Nodes of the current configuration that nobody reached yet have a row with zeros.
-#}
{%- set as_of = as_of_timestamp() -%}

with

transitions as (

    select * from {{ ref('journey_transitions') }}

),

enrollments as (

    select * from {{ ref('journey_enrollment_outcomes') }}

),

actions as (

    select * from {{ ref('journey_action_outcomes') }}

),

journey_nodes as (

    select * from {{ source('journey_config', 'journey_nodes') }}

),

moves_with_next as (

    select
        transitions.enrollment_id,
        transitions.journey_id,
        transitions.journey_version,
        transitions.variant,
        transitions.to_node as node_id,
        lead(transitions.to_node) over next_move as next_node,
        lead(transitions.reason) over next_move as next_reason,
        transitions.transition_at as arrived_at,
        lead(transitions.transition_at) over next_move as left_at
    from transitions
    window next_move as (partition by transitions.enrollment_id order by transitions.step_number)

),

arrivals_joined_to_conversions as (

    select
        moves_with_next.*,
        enrollments.converted_at,
        date_diff('second', moves_with_next.arrived_at, moves_with_next.left_at) / 3600.0 as hours_at_node,
        case
            when moves_with_next.left_at is null
                then date_diff('second', moves_with_next.arrived_at, {{ as_of }}) / 3600.0
        end as hours_waiting_now
    from moves_with_next
    left join enrollments
        on moves_with_next.enrollment_id = enrollments.enrollment_id
    where moves_with_next.node_id != '__exit__'

),

arrivals_counted as (

    -- count(*) counts enrollments: within one version an enrollment reaches a node at most once (every version's
    -- graph is acyclic, and the moves one version decides form a path in it)
    select
        journey_id,
        journey_version,
        node_id,
        count(*) as entered,
        count(*) filter (where variant = 'holdout') as entered_holdout,
        count(*) filter (where converted_at >= arrived_at) as converted,
        count(*) filter (where next_node = '__exit__') as exited,
        count(*) filter (
            where next_node = '__exit__' and next_reason = 'exit_node'
        ) as exited_at_exit_node,
        count(*) filter (
            where next_node = '__exit__' and next_reason = 'exit_rule'
        ) as exited_by_exit_rule,
        count(*) filter (where next_node = '__exit__' and next_reason = 'goal') as exited_by_goal,
        count(*) filter (
            where next_node = '__exit__' and next_reason = 'node_removed'
        ) as exited_node_removed,
        count(*) filter (where left_at is null) as waiting_now,
        median(hours_at_node) as median_hours_at_node,
        quantile_cont(hours_at_node, 0.9) as p90_hours_at_node,
        median(hours_waiting_now) as median_hours_waiting_now,
        max(hours_waiting_now) as max_hours_waiting_now
    from arrivals_joined_to_conversions
    group by journey_id, journey_version, node_id

),

actions_counted as (

    select
        journey_id,
        journey_version,
        node_id,
        count(*) as actions_decided,
        count(*) filter (where variant = 'holdout') as actions_held_out,
        count(*) filter (where state = 'sent') as actions_sent,
        count(*) filter (where state = 'failed') as actions_failed,
        count(*) filter (where state in ('due', 'deferred')) as actions_pending,
        count(*) filter (where state = 'suppressed' and variant != 'holdout') as actions_suppressed,
        count(*) filter (where is_delivered) as delivered,
        count(*) filter (where is_opened) as opened,
        count(*) filter (where is_clicked) as clicked,
        sum(message_cost) as message_cost
    from actions
    group by journey_id, journey_version, node_id

),

node_keys as (

    select
        journey_id,
        journey_version,
        node_id
    from arrivals_counted
    union
    select
        journey_id,
        version as journey_version,
        node_id
    from journey_nodes

),

funnel as (

    select
        node_keys.journey_id,
        node_keys.journey_version,
        node_keys.node_id,
        journey_nodes.node_type,
        journey_nodes.node_order,
        coalesce(arrivals_counted.entered, 0) as entered,
        coalesce(arrivals_counted.entered_holdout, 0) as entered_holdout,
        coalesce(actions_counted.actions_decided, 0) as actions_decided,
        coalesce(actions_counted.actions_held_out, 0) as actions_held_out,
        coalesce(actions_counted.actions_sent, 0) as actions_sent,
        coalesce(actions_counted.actions_failed, 0) as actions_failed,
        coalesce(actions_counted.actions_pending, 0) as actions_pending,
        coalesce(actions_counted.actions_suppressed, 0) as actions_suppressed,
        coalesce(actions_counted.delivered, 0) as delivered,
        coalesce(actions_counted.opened, 0) as opened,
        coalesce(actions_counted.clicked, 0) as clicked,
        coalesce(actions_counted.message_cost, 0) as message_cost,
        coalesce(arrivals_counted.converted, 0) as converted,
        coalesce(arrivals_counted.exited, 0) as exited,
        coalesce(arrivals_counted.exited_at_exit_node, 0) as exited_at_exit_node,
        coalesce(arrivals_counted.exited_by_exit_rule, 0) as exited_by_exit_rule,
        coalesce(arrivals_counted.exited_by_goal, 0) as exited_by_goal,
        coalesce(arrivals_counted.exited_node_removed, 0) as exited_node_removed,
        coalesce(arrivals_counted.waiting_now, 0) as waiting_now,
        arrivals_counted.median_hours_at_node,
        arrivals_counted.p90_hours_at_node,
        arrivals_counted.median_hours_waiting_now,
        arrivals_counted.max_hours_waiting_now
    from node_keys
    left join journey_nodes
        on
            node_keys.journey_id = journey_nodes.journey_id
            and node_keys.node_id = journey_nodes.node_id
    left join arrivals_counted
        on
            node_keys.journey_id = arrivals_counted.journey_id
            and node_keys.journey_version = arrivals_counted.journey_version
            and node_keys.node_id = arrivals_counted.node_id
    left join actions_counted
        on
            node_keys.journey_id = actions_counted.journey_id
            and node_keys.journey_version = actions_counted.journey_version
            and node_keys.node_id = actions_counted.node_id

)

select * from funnel
