{#-
    Actions that will never be sent, with the reason. Grain: one row per action whose policy state is
    suppressed (final). Reasons: holdout, suppressed (suppression list), no_consent, unreachable, stale,
    frequency_cap (a journey with when_capped: drop).
-#}
with

decisions as (

    select * from {{ ref('policy_decisions') }}

),

latest_decisions as (

    select *
    from decisions
    qualify row_number() over (partition by action_id order by evaluation_number desc) = 1

)

select
    action_id,
    customer_id,
    journey_id,
    node_id,
    action_kind,
    reason,
    detail,
    scheduled_at,
    decided_in_run,
    decided_as_of
from latest_decisions
where state = 'suppressed'
