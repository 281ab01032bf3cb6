{#-
    Conversions up to as_of, one row per order, typed, with revenue in USD (identity_reporting_currency_amount):
    - order: an order without a subscription product (order_items -> products.is_subscription);
    - trial_to_paid: the first charge of a subscription that began with a trial (the charge at or after the
      subscription's started_at; a charge belongs to the customer's latest subscription started before it);
    - subscription_start: the first charge of a subscription without a trial;
    - renewal: every later charge (and a charge no subscription start precedes).
    Only the types in measurement__conversion_types are kept. Orders are resolved to customers through their
    shop account (identity_shop_accounts); an order of an account no customer resolves is left out.
-#}
with

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

order_items as (

    select * from {{ ref('stg_raw__order_items') }}

),

products as (

    select * from {{ ref('stg_raw__products') }}

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

subscription_orders as (

    select distinct order_items.order_id
    from order_items
    inner join products
        on order_items.product_id = products.product_id
    where products.is_subscription

),

subscription_starts as (

    select
        subscription_id,
        customer_id as shop_customer_id,
        trial_started_at is not null as has_trial,
        started_at,
        lead(started_at) over (partition by customer_id order by started_at, subscription_id) as next_started_at
    from subscriptions
    where started_at is not null

),

orders_in_time as (

    select
        orders.order_id,
        orders.customer_id as shop_customer_id,
        orders.session_id as tracker_session_id,
        {{ identity_reporting_currency_amount('orders.revenue', 'orders.currency') }} as revenue,
        subscription_orders.order_id is not null as is_subscription_charge,
        orders.ordered_at
    from orders
    left join subscription_orders
        on orders.order_id = subscription_orders.order_id
    where orders.ordered_at <= {{ as_of_timestamp() }}

),

charges_matched_to_subscriptions as (

    select
        orders_in_time.order_id,
        subscription_starts.subscription_id,
        subscription_starts.has_trial,
        row_number() over (
            partition by subscription_starts.subscription_id
            order by orders_in_time.ordered_at, orders_in_time.order_id
        ) as charge_number
    from orders_in_time
    inner join subscription_starts
        on
            orders_in_time.shop_customer_id = subscription_starts.shop_customer_id
            and orders_in_time.ordered_at >= subscription_starts.started_at
            and (
                subscription_starts.next_started_at is null
                or orders_in_time.ordered_at < subscription_starts.next_started_at
            )
    where orders_in_time.is_subscription_charge

),

orders_typed as (

    select
        orders_in_time.order_id as conversion_id,
        shop_accounts_resolved.customer_id,
        case
            when not orders_in_time.is_subscription_charge then 'order'
            when charges_matched_to_subscriptions.charge_number = 1 and charges_matched_to_subscriptions.has_trial
                then 'trial_to_paid'
            when charges_matched_to_subscriptions.charge_number = 1 then 'subscription_start'
            else 'renewal'
        end as conversion_type,
        orders_in_time.order_id,
        charges_matched_to_subscriptions.subscription_id,
        orders_in_time.tracker_session_id,
        orders_in_time.revenue,
        orders_in_time.ordered_at as converted_at
    from orders_in_time
    inner join shop_accounts_resolved
        on orders_in_time.shop_customer_id = shop_accounts_resolved.shop_customer_id
    left join charges_matched_to_subscriptions
        on orders_in_time.order_id = charges_matched_to_subscriptions.order_id

),

conversions_kept as (

    select * from orders_typed
    where conversion_type in (
        {{ measurement_sql_list(var('measurement__conversion_types', ['order', 'trial_to_paid', 'renewal'])) }}
    )

)

select * from conversions_kept
