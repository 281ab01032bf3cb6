{#-
    One behavioural persona per customer as of the run, from a CASE ladder (first match wins), so personas are
    mutually exclusive and exhaustive; docs/segments.md has the rules and how well they recover the planted ones.
-#}
with

customers as (

    select * from {{ ref('customers') }}

),

orders as (

    select * from {{ ref('int_orders_resolved_to_customers') }}

),

subscriptions as (

    select * from {{ ref('stg_raw__subscriptions') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

orders_per_customer as (

    select
        customer_id,
        count(*) as orders_count,
        count(case when is_discounted then 1 end) as discounted_orders_count
    from orders
    group by customer_id

),

subscribers as (

    -- customers who started a Northwind Plus trial or subscription by as_of (any state since)
    select distinct customer_identities.customer_id
    from subscriptions
    inner join customer_identities
        on 'shop_customer_id:' || subscriptions.customer_id = customer_identities.identity_id
    where
        customer_identities.customer_id is not null
        and coalesce(subscriptions.trial_started_at, subscriptions.started_at) <= {{ as_of_timestamp() }}

),

customers_with_behaviour as (

    select
        customers.customer_id,
        coalesce(orders_per_customer.orders_count, 0) as orders_count,
        coalesce(orders_per_customer.discounted_orders_count, 0) as discounted_orders_count,
        subscribers.customer_id is not null as has_subscription
    from customers
    left join orders_per_customer
        on customers.customer_id = orders_per_customer.customer_id
    left join subscribers
        on customers.customer_id = subscribers.customer_id

),

customers_with_persona as (

    select
        customer_id,
        case
            when has_subscription then 'subscriber'
            when
                orders_count > 0
                and discounted_orders_count >= {{ var('segments__persona_bargain_min_discounted_share', 0.5) }}
                * orders_count
                then 'bargain_hunter'
            when orders_count >= {{ var('segments__persona_loyalist_min_orders', 2) }} then 'loyalist'
            else 'browser'
        end as persona,
        orders_count,
        discounted_orders_count,
        has_subscription
    from customers_with_behaviour

)

select * from customers_with_persona
