{#-
    Marketing messages in the learning window, one row each, with the resolved customer they went to and how
    the customer reacted: what the learnt delivery policy models (customer_send_hours,
    customer_channel_preferences) read. docs/policy_learning.md has the definitions.

    The window is the policy__engagement_lookback_days before as_of, by the message's first event (its send);
    events after as_of are ignored. A reaction is an open or a click; the message's first reaction is its
    reaction time (an email click follows its open within minutes, so counting both would count one moment
    twice). A message that ended in an unsubscribe or complaint is not a reaction worth repeating: it counts as
    delivered but not engaged. The local hour is the reaction's UTC time in the customer's own IANA time zone
    (macro local_time_of_utc, so daylight-saving changes are honoured per instant).
-#}
with

message_engagement as (

    select * from {{ ref('stg_raw__message_engagement') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

customers as (

    select * from {{ ref('customers') }}

),

shop_accounts_resolved as (

    {{ identity_shop_accounts('customer_identities') }}

),

messages_summarised as (

    select
        message_id,
        min(customer_id) as shop_customer_id,
        min(channel) as channel,
        bool_or(event_type = 'delivered') as is_delivered,
        bool_or(event_type in ('opened', 'clicked')) as has_reaction,
        bool_or(event_type in ('unsubscribed', 'complained')) as has_opt_out,
        min(occurred_at) as sent_at,
        min(case when event_type in ('opened', 'clicked') then occurred_at end) as first_reaction_at
    from message_engagement
    where occurred_at <= {{ as_of_timestamp() }}
    group by message_id

),

messages_in_window as (

    select *
    from messages_summarised
    where sent_at > {{ dbt.dateadd(
        'day', -1 * var('policy__engagement_lookback_days', 365), as_of_timestamp()
    ) }}

),

messages_joined_to_customers as (

    select
        messages_in_window.message_id,
        customers.customer_id,
        messages_in_window.channel,
        customers.time_zone,
        case
            when
                messages_in_window.is_delivered and messages_in_window.has_reaction
                and not messages_in_window.has_opt_out
                then cast(
                    hour({{ local_time_of_utc('messages_in_window.first_reaction_at', 'customers.time_zone') }})
                    as integer
                )
        end as reaction_hour_local,
        messages_in_window.is_delivered,
        messages_in_window.is_delivered
        and messages_in_window.has_reaction
        and not messages_in_window.has_opt_out as is_engaged,
        messages_in_window.has_opt_out,
        messages_in_window.sent_at,
        messages_in_window.first_reaction_at
    from messages_in_window
    inner join shop_accounts_resolved
        on messages_in_window.shop_customer_id = shop_accounts_resolved.shop_customer_id
    inner join customers
        on shop_accounts_resolved.customer_id = customers.customer_id

)

select * from messages_joined_to_customers
