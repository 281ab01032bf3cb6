{#-
    Actions waiting for a later send time. Grain: one row per action whose policy state is deferred: its
    original send time (the journey's step time), the new one, and why (quiet_hours, scheduled for the learnt
    best hour, or frequency_cap).
-#}
with

decisions as (

    select * from {{ ref('policy_decisions') }}

),

latest_decisions as (

    -- only actions that were ever deferred can be deferred now (cheaper than ranking every decision)
    select *
    from decisions
    where
        action_id in (
            select ever.action_id from decisions as ever
            where ever.state = 'deferred'
        )
    qualify row_number() over (partition by action_id order by evaluation_number desc) = 1

)

select
    action_id,
    customer_id,
    journey_id,
    node_id,
    action_kind,
    channel,
    destination,
    scheduled_at as original_send_at,
    send_after as new_send_at,
    reason,
    detail,
    decided_in_run,
    decided_as_of
from latest_decisions
where state = 'deferred'
