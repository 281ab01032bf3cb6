{#-
    Every enrollment with its conversion resolved to the goal event and the order behind it (docs/measurement.md,
    "Journey analytics"). An enrollment is converted when its journey has a goal and a goal event fell in
    (entered_at, entered_at + goal window]: journey_enrollments.converted_at, the first such event (ties by
    event_id). The conversion's revenue is the USD revenue of that event's order (order_completed events carry
    the order_id); 0 when the goal event names no known order; null when the journey has no goal.
-#}
with

enrollments as (

    select * from {{ ref('journey_enrollments') }}

),

journeys as (

    select * from {{ source('journey_config', 'journeys') }}

),

events as (

    select * from {{ ref('int_journey_events') }}

),

orders as (

    select * from {{ ref('int_orders_resolved_to_customers') }}

),

goal_events as (

    select
        enrollments.enrollment_id,
        events.event_id,
        events.order_id
    from enrollments
    inner join journeys
        on enrollments.journey_id = journeys.journey_id
    inner join events
        on
            enrollments.customer_id = events.customer_id
            and journeys.goal_event = events.event_name
            and enrollments.converted_at = events.occurred_at
    where enrollments.converted_at is not null
    qualify row_number() over (partition by enrollments.enrollment_id order by events.event_id) = 1

),

enrollments_resolved as (

    select
        enrollments.enrollment_id,
        enrollments.journey_id,
        enrollments.journey_version,
        enrollments.customer_id,
        enrollments.variant,
        enrollments.status,
        enrollments.exit_reason,
        journeys.goal_event,
        goal_events.event_id as conversion_event_id,
        goal_events.order_id as conversion_order_id,
        case
            when journeys.goal_event is null then null
            when enrollments.converted_at is null then 0
            else coalesce(orders.revenue_usd, 0)
        end as conversion_revenue,
        journeys.goal_within_seconds,
        date_diff('second', enrollments.entered_at, enrollments.converted_at) / 3600.0 as hours_to_convert,
        journeys.goal_event is not null as has_goal,
        enrollments.converted_at is not null as is_converted,
        enrollments.variant = 'holdout' as is_holdout,
        enrollments.entered_at,
        enrollments.exited_at,
        enrollments.converted_at
    from enrollments
    left join journeys
        on enrollments.journey_id = journeys.journey_id
    left join goal_events
        on enrollments.enrollment_id = goal_events.enrollment_id
    left join orders
        on goal_events.order_id = orders.order_id

)

select * from enrollments_resolved
