{#-
    What activation may send now. Grain: one row per action whose policy state is due and that the send ledger
    does not show as sent. Carries everything a destination needs: the final channel and destination, the
    address for that channel, the template, the personalisation fields the action node lists (customer
    attributes, or fields of the event that started the enrollment) and the idempotency key (the action_id).
-#}
{%- set ledger = adapter.get_relation(this.database, 'activation', 'send_ledger') if execute else none -%}
{%- set field_lists = journey_config_rows('journey_nodes', "node_type = 'action'") | map(attribute='action_fields')
    | unique | list -%}
{%- set customer_columns = journey_relation_columns(ref('customers')) -%}
{%- set event_columns = journey_relation_columns(ref('customer_event_stream')) -%}

with

decisions as (

    select * from {{ ref('policy_decisions') }}

),

actions as (

    select * from {{ ref('journey_actions') }}

),

enrollments as (

    select * from {{ ref('journey_enrollments') }}

),

customers as (

    select * from {{ ref('customers') }}

),

events as (

    select * from {{ ref('customer_event_stream') }}

),

latest_decisions as (

    -- only actions that were ever due can be due now (cheaper than ranking every decision)
    select *
    from decisions
    where
        action_id in (
            select ever.action_id from decisions as ever
            where ever.state = 'due'
        )
    qualify row_number() over (partition by action_id order by evaluation_number desc) = 1

),

sent as (

    -- what activation has sent already (the send ledger; absent before the first activation)
    {% if ledger is not none %}
        select action_id
        from {{ ledger }}
        where state = 'sent'
    {% else %}
        select cast(null as varchar) as action_id
        where false
    {% endif %}

),

due as (

    select latest_decisions.*
    from latest_decisions
    where
        latest_decisions.state = 'due'
        and latest_decisions.action_id not in (select sent.action_id from sent)

)

select
    due.action_id,
    due.action_id as idempotency_key,
    due.customer_id,
    due.journey_id,
    actions.journey_version,
    due.node_id,
    due.action_kind,
    due.channel,
    due.destination,
    due.purpose,
    actions.template,
    actions.action_config,
    case due.channel
        when 'email' then customers.email
        when 'sms' then customers.phone
        when 'push' then customers.push_token
    end as address,
    customers.email,
    {{ policy_payload_fields(field_lists, customer_columns, event_columns) }} as payload_fields,
    entry_events.occurred_at as entry_event_at,
    due.scheduled_at,
    due.send_after,
    due.decided_in_run,
    due.decided_as_of
from due
inner join actions
    on due.action_id = actions.action_id
left join customers
    on due.customer_id = customers.customer_id
left join enrollments
    on actions.enrollment_id = enrollments.enrollment_id
left join events as entry_events
    on enrollments.entry_event_id = entry_events.event_id
