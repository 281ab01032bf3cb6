{#-
    Whether each customer can be reached on each channel at all, whatever their consent.
    Grain: one row per customer x channel (email, sms, push, in_app, webhook).
    email needs an address and no hard bounce reported for it; sms a phone number; push a device token;
    in_app and webhook need nothing. Hard bounces are reported back by the channels (message_engagement).
-#}
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

    select
        identifier_value as shop_customer_id,
        customer_id
    from customer_identities
    where
        identifier_type = 'shop_customer_id'
        and customer_id is not null

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
        hard_bounces.last_hard_bounce_at
    from customers
    cross join channels
    left join hard_bounces
        on
            customers.customer_id = hard_bounces.customer_id
            and channels.channel = hard_bounces.channel

)

select
    customer_id,
    channel,
    not has_no_address and last_hard_bounce_at is null as is_reachable,
    case
        when has_no_address then 'no_address'
        when last_hard_bounce_at is not null then 'hard_bounce'
    end as unreachable_reason,
    last_hard_bounce_at
from reachability
