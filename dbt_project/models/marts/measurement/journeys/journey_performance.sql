{#-
    One row per journey: enrollments, conversions, revenue, messages, their configured cost and ROI
    (docs/measurement.md, "Journey analytics"). Conversions and revenue are those of treated (non-holdout)
    enrollments: a conversion is a goal event within the goal window after entry, its revenue that order's.
    Where the journey has a holdout, incremental conversions and revenue compare the treated with the holdout's
    rate (point estimates; intervals and p-values are in measurement.holdout_lift). Journeys without a goal have
    no conversions (null), so no revenue and no ROI.
-#}
with

enrollments as (

    select * from {{ ref('journey_enrollment_outcomes') }}

),

actions as (

    select * from {{ ref('journey_action_outcomes') }}

),

journeys as (

    select * from {{ source('journey_config', 'journeys') }}

),

enrollments_counted as (

    select
        journey_id,
        bool_or(has_goal) as has_goal,
        count(*) as enrollments,
        count(*) filter (where not is_holdout) as treated_enrollments,
        count(*) filter (where is_holdout) as holdout_enrollments,
        count(*) filter (where status = 'active') as active_enrollments,
        count(*) filter (where is_converted and not is_holdout) as conversions,
        count(*) filter (where is_converted and is_holdout) as holdout_conversions,
        coalesce(sum(conversion_revenue) filter (where not is_holdout), 0) as revenue,
        coalesce(sum(conversion_revenue) filter (where is_holdout), 0) as holdout_revenue,
        median(hours_to_convert) filter (where not is_holdout) as median_hours_to_convert
    from enrollments
    group by journey_id

),

actions_counted as (

    select
        journey_id,
        count(*) filter (where is_sent) as actions_sent,
        count(*) filter (where is_sent and action_kind = 'message') as messages_sent,
        sum(message_cost) as message_cost
    from actions
    group by journey_id

),

performance as (

    select
        enrollments_counted.journey_id,
        journeys.version as current_version,
        journeys.status,
        journeys.goal_event,
        enrollments_counted.enrollments,
        enrollments_counted.treated_enrollments,
        enrollments_counted.holdout_enrollments,
        enrollments_counted.active_enrollments,
        case when enrollments_counted.has_goal then enrollments_counted.conversions end as conversions,
        case
            when enrollments_counted.has_goal
                then enrollments_counted.conversions / nullif(enrollments_counted.treated_enrollments, 0)
        end as conversion_rate,
        case when enrollments_counted.has_goal then enrollments_counted.holdout_conversions end as holdout_conversions,
        case
            when enrollments_counted.has_goal
                then enrollments_counted.holdout_conversions / nullif(enrollments_counted.holdout_enrollments, 0)
        end as holdout_conversion_rate,
        case when enrollments_counted.has_goal then enrollments_counted.revenue end as revenue,
        case when enrollments_counted.has_goal then enrollments_counted.holdout_revenue end as holdout_revenue,
        enrollments_counted.median_hours_to_convert,
        coalesce(actions_counted.actions_sent, 0) as actions_sent,
        coalesce(actions_counted.messages_sent, 0) as messages_sent,
        coalesce(actions_counted.message_cost, 0) as message_cost
    from enrollments_counted
    left join journeys
        on enrollments_counted.journey_id = journeys.journey_id
    left join actions_counted
        on enrollments_counted.journey_id = actions_counted.journey_id

),

returns as (

    select
        *,
        (conversion_rate - holdout_conversion_rate) * treated_enrollments as incremental_conversions,
        (
            revenue / nullif(treated_enrollments, 0) - holdout_revenue / nullif(holdout_enrollments, 0)
        ) * treated_enrollments as incremental_revenue,
        (revenue - message_cost) / nullif(message_cost, 0) as roi,
        (
            (revenue / nullif(treated_enrollments, 0) - holdout_revenue / nullif(holdout_enrollments, 0))
            * treated_enrollments
            - message_cost
        ) / nullif(message_cost, 0) as incremental_roi
    from performance

)

select * from returns
