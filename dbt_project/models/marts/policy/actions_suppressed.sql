{#-
    Actions that will never be sent, with the reason. Grain: one row per action whose policy state is
    suppressed (final). Reasons: holdout, suppressed (suppression list), no_consent, unreachable, stale,
    frequency_cap (a journey with when_capped: drop).
-#}
with

decisions as (

    select * from {{ ref('policy_decisions') }}

),

-- suppression is final: an action's suppressed decision is its last, so no need to rank its decisions
latest_decisions as (

    select *
    from decisions
    where state = 'suppressed'

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
