{#-
    Whether each customer can be reached on each channel at all, whatever their consent.
    Grain: one row per customer x channel (email, sms, push, in_app, webhook).
    email needs an address and no hard bounce reported for it; sms a phone number; push a device token;
    in_app and webhook need nothing. Hard bounces are reported back by the channels (message_engagement). A
    channel whose latest delivery attempt to the customer failed (send ledger, activation) is unreachable until
    an attempt succeeds: policy then tries the fallback channels. The channel of an attempt comes from the
    previous runs' policy decisions (read without ref: policy_decisions itself depends on this model).
-#}
{%- set ledger = adapter.get_relation(this.database, 'activation', 'send_ledger') if execute else none -%}
{%- set decisions = adapter.get_relation(this.database, this.schema, 'policy_decisions') if execute else none -%}
with

customers as (

    select * from {{ ref('customers') }}

),

engagement as (

    select * from {{ ref('stg_raw__message_engagement') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

shop_accounts_resolved as (

    {{ identity_shop_accounts('customer_identities') }}

),

hard_bounces as (

    select
        shop_accounts_resolved.customer_id,
        engagement.channel,
        max(engagement.occurred_at) as last_hard_bounce_at
    from engagement
    inner join shop_accounts_resolved
        on engagement.customer_id = shop_accounts_resolved.shop_customer_id
    where
        engagement.event_type = 'bounced'
        and engagement.bounce_type = 'hard'
        and engagement.occurred_at <= {{ as_of_timestamp() }}
    group by shop_accounts_resolved.customer_id, engagement.channel

),

released_channels as (

    -- the channel each released action went out on (earlier runs' policy decisions)
    {% if decisions is not none %}
        select distinct
            action_id,
            customer_id,
            channel
        from {{ decisions }}
        where state = 'due' and channel is not null
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as action_id,
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as {{ dbt.type_string() }}) as channel
        where false
    {% endif %}

),

failed_deliveries as (

    {% if ledger is not none %}
        select
            released_channels.customer_id,
            released_channels.channel,
            max(attempts.last_attempt_at) as last_failed_at
        from {{ ledger }} as attempts
        inner join released_channels
            on attempts.action_id = released_channels.action_id
        group by released_channels.customer_id, released_channels.channel
        -- the latest attempt on the channel failed
        having max_by(attempts.state, attempts.last_attempt_at) = 'failed'
    {% else %}
        select
            customer_id,
            channel,
            cast(null as timestamp) as last_failed_at
        from released_channels
        where false
    {% endif %}

),

channels as (

    select 'email' as channel
    union all
    select 'sms' as channel
    union all
    select 'push' as channel
    union all
    select 'in_app' as channel
    union all
    select 'webhook' as channel

),

reachability as (

    select
        customers.customer_id,
        channels.channel,
        case channels.channel
            when 'email' then not customers.has_email
            when 'sms' then not customers.has_phone
            when 'push' then not customers.has_push_token
            else false
        end as has_no_address,
        hard_bounces.last_hard_bounce_at,
        failed_deliveries.last_failed_at
    from customers
    cross join channels
    left join hard_bounces
        on
            customers.customer_id = hard_bounces.customer_id
            and channels.channel = hard_bounces.channel
    left join failed_deliveries
        on
            customers.customer_id = failed_deliveries.customer_id
            and channels.channel = failed_deliveries.channel

)

select
    customer_id,
    channel,
    not has_no_address and last_hard_bounce_at is null and last_failed_at is null as is_reachable,
    case
        when has_no_address then 'no_address'
        when last_hard_bounce_at is not null then 'hard_bounce'
        when last_failed_at is not null then 'delivery_failed'
    end as unreachable_reason,
    last_hard_bounce_at,
    last_failed_at as last_failed_delivery_at
from reachability
