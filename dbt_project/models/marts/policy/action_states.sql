{{ config(materialized='view') }}
{#-
    The state of every action journeys decided, right now. Grain: one row per action in journey_actions.
    state is exactly one of: due (activation may send it), deferred, suppressed (final), sent, failed (the last
    attempt failed; activation retries it while policy keeps it due), pending (not evaluated by policy yet: the
    latest run was launched for other journeys, var journeys__selected). A view, so that it shows what activation
    recorded in the send ledger after the dbt build of the same run.
-#}
{%- set ledger = adapter.get_relation(this.database, 'activation', 'send_ledger') if execute else none -%}

with

actions as (

    select * from {{ ref('journey_actions') }}

),

decisions as (

    select * from {{ ref('policy_decisions') }}

),

latest_decisions as (

    select *
    from decisions
    qualify row_number() over (partition by action_id order by evaluation_number desc) = 1

),

dispatch as (

    {% if ledger is not none %}
        select
            action_id,
            bool_or(state = 'sent') as is_sent,
            bool_or(state = 'failed') as is_failed,
            max(last_attempt_at) as last_attempt_at,
            max(provider_message_id) as provider_message_id,
            max(error) as error
        from {{ ledger }}
        group by action_id
    {% else %}
        select
            cast(null as varchar) as action_id,
            cast(null as boolean) as is_sent,
            cast(null as boolean) as is_failed,
            cast(null as timestamp) as last_attempt_at,
            cast(null as varchar) as provider_message_id,
            cast(null as varchar) as error
        where false
    {% endif %}

)

select
    actions.action_id,
    actions.customer_id,
    actions.journey_id,
    actions.node_id,
    actions.action_kind,
    case
        when dispatch.is_sent then 'sent'
        when latest_decisions.state = 'due' and dispatch.is_failed then 'failed'
        -- decided by a journey, not evaluated by policy yet: a run launched for other journeys only
        when latest_decisions.state is null then 'pending'
        else latest_decisions.state
    end as state,
    latest_decisions.reason,
    latest_decisions.detail,
    latest_decisions.channel,
    latest_decisions.destination,
    actions.scheduled_at,
    latest_decisions.send_after,
    dispatch.last_attempt_at,
    dispatch.provider_message_id,
    dispatch.error,
    latest_decisions.decided_in_run as policy_decided_in_run
from actions
left join latest_decisions
    on actions.action_id = latest_decisions.action_id
left join dispatch
    on actions.action_id = dispatch.action_id
