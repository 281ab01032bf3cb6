{#-
    The unified customer profile, as of the run: one row per resolved customer (customer_identities).

    Contact attributes come from the shop account whose id is the customer_id (the smallest shop customer_id
    of the component); orders and consent from every shop account resolved to the customer (one account, unless
    journeys__identity_max_customers_per_identifier > 1 let identifiers merge accounts). Rows whose event time
    is after as_of are ignored, so a run at an earlier as_of gives the profile as it was then.

    A table, rebuilt each run: it aggregates per-customer tables (orders, consent, identities), which is cheaper
    than tracking which customers changed; the graph and the event stream are the incremental parts.
-#}
with

shop_customers as (

    select * from {{ ref('stg_raw__customers') }}

),

consent_events as (

    select * from {{ ref('stg_raw__consent_events') }}

),

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

subscriptions as (

    select * from {{ ref('stg_raw__subscriptions') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

shop_accounts_resolved as (

    {{ identity_shop_accounts('customer_identities') }}

),

identities_per_customer as (

    select
        customer_id,
        count(*) as identities_count,
        max(last_seen_at) as last_seen_at
    from customer_identities
    where customer_id is not null
    group by customer_id

),

orders_per_customer as (

    select
        shop_accounts_resolved.customer_id,
        count(*) as orders_count,
        sum({{ identity_reporting_currency_amount('orders.revenue', 'orders.currency') }}) as lifetime_revenue,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at
    from orders
    inner join shop_accounts_resolved
        on orders.customer_id = shop_accounts_resolved.shop_customer_id
    where orders.ordered_at <= {{ as_of_timestamp() }}
    group by shop_accounts_resolved.customer_id

),

latest_consent_per_channel_and_purpose as (

    select
        shop_accounts_resolved.customer_id,
        consent_events.channel,
        consent_events.purpose,
        consent_events.consent_status
    from consent_events
    inner join shop_accounts_resolved
        on consent_events.customer_id = shop_accounts_resolved.shop_customer_id
    where consent_events.occurred_at <= {{ as_of_timestamp() }}
    qualify row_number() over (
        partition by shop_accounts_resolved.customer_id, consent_events.channel, consent_events.purpose
        order by consent_events.occurred_at desc, consent_events.consent_event_id desc
    ) = 1

),

consent_per_customer as (

    select
        customer_id,
        max(
            case when channel = 'email' and purpose = 'marketing' then consent_status end
        ) as email_marketing_consent,
        max(
            case when channel = 'email' and purpose = 'transactional' then consent_status end
        ) as email_transactional_consent,
        max(
            case when channel = 'sms' and purpose = 'marketing' then consent_status end
        ) as sms_marketing_consent,
        max(
            case when channel = 'sms' and purpose = 'transactional' then consent_status end
        ) as sms_transactional_consent,
        max(
            case when channel = 'push' and purpose = 'marketing' then consent_status end
        ) as push_marketing_consent,
        max(
            case when channel = 'push' and purpose = 'transactional' then consent_status end
        ) as push_transactional_consent
    from latest_consent_per_channel_and_purpose
    group by customer_id

),

next_renewal_per_customer as (

    -- the renewal date of the customer's most recently updated live subscription, as known at as_of
    select
        customer_id,
        renewal_due_date
    from subscriptions
    where
        subscription_status in ('trialing', 'active', 'past_due')
        and updated_at <= {{ as_of_timestamp() }}
    qualify row_number() over (
        partition by customer_id order by updated_at desc, subscription_id desc
    ) = 1

),

customer_profiles as (

    select
        identities_per_customer.customer_id,
        shop_customers.first_name,
        shop_customers.email,
        shop_customers.phone,
        shop_customers.push_token,
        shop_customers.country_code,
        shop_customers.time_zone,
        coalesce(consent_per_customer.email_marketing_consent, 'none') as email_marketing_consent,
        coalesce(consent_per_customer.email_transactional_consent, 'none') as email_transactional_consent,
        coalesce(consent_per_customer.sms_marketing_consent, 'none') as sms_marketing_consent,
        coalesce(consent_per_customer.sms_transactional_consent, 'none') as sms_transactional_consent,
        coalesce(consent_per_customer.push_marketing_consent, 'none') as push_marketing_consent,
        coalesce(consent_per_customer.push_transactional_consent, 'none') as push_transactional_consent,
        coalesce(orders_per_customer.orders_count, 0) as orders_count,
        coalesce(orders_per_customer.lifetime_revenue, 0) as lifetime_revenue,
        identities_per_customer.identities_count,
        {{ identity_is_eu_country('shop_customers.country_code') }} as is_eu,
        shop_customers.email is not null as has_email,
        shop_customers.phone is not null as has_phone,
        shop_customers.push_token is not null as has_push_token,
        shop_customers.signed_up_at,
        orders_per_customer.first_order_at,
        orders_per_customer.last_order_at,
        identities_per_customer.last_seen_at,
        next_renewal_per_customer.renewal_due_date
    from identities_per_customer
    inner join shop_customers
        on identities_per_customer.customer_id = shop_customers.customer_id
    left join orders_per_customer
        on identities_per_customer.customer_id = orders_per_customer.customer_id
    left join consent_per_customer
        on identities_per_customer.customer_id = consent_per_customer.customer_id
    left join next_renewal_per_customer
        on identities_per_customer.customer_id = next_renewal_per_customer.customer_id

)

select * from customer_profiles
