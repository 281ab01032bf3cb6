{#-
    One row per enrollment: who entered which journey when, in which variant, and how it stands now.
    Derived from journey_transitions (the source of truth) at every run.
-#}
with

transitions as (

    select * from {{ ref('journey_transitions') }}

),

journeys as (

    select * from {{ source('journey_config', 'journeys') }}

),

events as (

    select * from {{ ref('int_journey_events') }}

),

entries as (

    select * from transitions
    where step_number = 0

),

-- the last step of each enrollment
{{ journey_last_steps('last_steps') }},

conversions as (

    select
        entries.enrollment_id,
        min(events.occurred_at) as converted_at
    from entries
    inner join journeys
        on entries.journey_id = journeys.journey_id
    inner join events
        on
            entries.customer_id = events.customer_id
            and journeys.goal_event = events.event_name
            and entries.entered_at < events.occurred_at
            and {{ add_seconds('entries.entered_at', 'journeys.goal_within_seconds') }} >= events.occurred_at
    group by entries.enrollment_id

),

enrollments as (

    select
        entries.enrollment_id,
        entries.journey_id,
        entries.journey_version,
        entries.customer_id,
        entries.entry_event_id,
        entries.variant,
        case
            when last_steps.to_node = '__exit__' and last_steps.reason = 'exit_node' then 'completed'
            when last_steps.to_node = '__exit__' then 'exited'
            else 'active'
        end as status,
        case when last_steps.to_node = '__exit__' then last_steps.reason end as exit_reason,
        entries.entered_at,
        case when last_steps.to_node = '__exit__' then last_steps.transition_at end as exited_at,
        conversions.converted_at,
        entries.decided_in_run
    from entries
    inner join last_steps
        on entries.enrollment_id = last_steps.enrollment_id
    left join conversions
        on entries.enrollment_id = conversions.enrollment_id

)

select * from enrollments
