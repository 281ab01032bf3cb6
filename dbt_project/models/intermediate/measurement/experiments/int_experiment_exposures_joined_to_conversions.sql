{#-
    One row per exposure: an enrollment in an experiment of a journey with a goal (docs/measurement.md,
    "Experiments"). Two kinds of experiment:

    - experiment_id 'holdout': every enrollment of a journey with holdout_percent > 0, exposed at entry; variant
      'treatment' or 'holdout' (the control). Converted: journey_enrollments.converted_at is set (a goal event in
      (entered_at, entered_at + window]); revenue: that conversion's order revenue.
    - experiment_id = a random split's node_id: every treatment (non-holdout) enrollment that the split assigned,
      exposed at the split (the transition with reason 'random'); variant = the branch's target node, control =
      the first branch in the file. Converted: a goal event in (exposed_at, entered_at + window]: only goal events
      after the assignment can be caused by it. Revenue: the order of the first such event.
    Holdout enrollments walk the splits too but receive no message, so they are no exposure of a split.
-#}
with

enrollments as (

    select * from {{ ref('journey_enrollment_outcomes') }}

),

transitions as (

    select * from {{ ref('journey_transitions') }}

),

journeys as (

    select * from {{ source('journey_config', 'journeys') }}

),

branches as (

    select * from {{ source('journey_config', 'journey_branches') }}

),

events as (

    select * from {{ ref('int_journey_events') }}

),

orders as (

    select * from {{ ref('int_orders_resolved_to_customers') }}

),

holdout_exposures as (

    select
        enrollments.journey_id,
        'holdout' as experiment_id,
        enrollments.variant,
        enrollments.enrollment_id,
        enrollments.customer_id,
        enrollments.conversion_revenue as revenue,
        enrollments.is_holdout as is_control,
        enrollments.is_converted,
        enrollments.entered_at as exposed_at,
        enrollments.converted_at
    from enrollments
    inner join journeys
        on enrollments.journey_id = journeys.journey_id
    where
        journeys.holdout_percent > 0
        and journeys.goal_event is not null

),

random_branches as (

    -- two branches leading to the same node are one variant (the path cannot tell them apart)
    select
        journey_id,
        node_id,
        next_node,
        min(branch_index) as branch_index
    from branches
    where weight is not null
    group by journey_id, node_id, next_node

),

split_assignments as (

    select
        transitions.journey_id,
        transitions.from_node as experiment_id,
        transitions.to_node as variant,
        transitions.enrollment_id,
        transitions.customer_id,
        journeys.goal_event,
        random_branches.branch_index = 0 as is_control,
        transitions.transition_at as exposed_at,
        transitions.entered_at + to_seconds(journeys.goal_within_seconds) as goal_window_ends_at
    from transitions
    inner join random_branches
        on
            transitions.journey_id = random_branches.journey_id
            and transitions.from_node = random_branches.node_id
            and transitions.to_node = random_branches.next_node
    inner join journeys
        on transitions.journey_id = journeys.journey_id
    where
        transitions.reason = 'random'
        and transitions.variant = 'treatment'
        and journeys.goal_event is not null

),

split_conversions as (

    select
        split_assignments.journey_id,
        split_assignments.experiment_id,
        split_assignments.enrollment_id,
        events.order_id,
        events.occurred_at as converted_at
    from split_assignments
    inner join events
        on
            split_assignments.customer_id = events.customer_id
            and split_assignments.goal_event = events.event_name
            and split_assignments.exposed_at < events.occurred_at
            and split_assignments.goal_window_ends_at >= events.occurred_at
    qualify row_number() over (
        partition by split_assignments.journey_id, split_assignments.experiment_id, split_assignments.enrollment_id
        order by events.occurred_at, events.event_id
    ) = 1

),

split_exposures as (

    select
        split_assignments.journey_id,
        split_assignments.experiment_id,
        split_assignments.variant,
        split_assignments.enrollment_id,
        split_assignments.customer_id,
        case when split_conversions.converted_at is null then 0 else coalesce(orders.revenue_usd, 0) end as revenue,
        split_assignments.is_control,
        split_conversions.converted_at is not null as is_converted,
        split_assignments.exposed_at,
        split_conversions.converted_at
    from split_assignments
    left join split_conversions
        on
            split_assignments.journey_id = split_conversions.journey_id
            and split_assignments.experiment_id = split_conversions.experiment_id
            and split_assignments.enrollment_id = split_conversions.enrollment_id
    left join orders
        on split_conversions.order_id = orders.order_id

),

exposures as (

    select * from holdout_exposures
    union all
    select * from split_exposures

)

select * from exposures
