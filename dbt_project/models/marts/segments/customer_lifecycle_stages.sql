{#-
    The lifecycle stage of every customer as of the run: one CASE ladder, first match wins, so the stages are
    mutually exclusive and exhaustive. Windows are vars (segments__lifecycle_*); docs/segments.md has the rules.
-#}
with

customers as (

    select * from {{ ref('customers') }}

),

customer_event_stream as (

    select * from {{ ref('customer_event_stream') }}

),

run_as_of as (

    select {{ as_of_timestamp() }} as as_of

),

recent_shopping_per_customer as (

    -- product views and cart updates in the consideration window before as_of
    select
        customer_id,
        count(*) as recent_shopping_events_count
    from customer_event_stream
    where
        customer_id is not null
        and event_name in ('product_viewed', 'cart_updated')
        and occurred_at <= {{ as_of_timestamp() }}
        and occurred_at > {{ dbt.dateadd(
            'day', -1 * var('segments__lifecycle_consideration_days', 30), as_of_timestamp()
        ) }}
    group by customer_id

),

customers_with_activity as (

    select
        customers.customer_id,
        customers.orders_count,
        coalesce(recent_shopping_per_customer.recent_shopping_events_count, 0) as recent_shopping_events_count,
        {{ dbt.datediff(
            'customers.last_order_at', 'run_as_of.as_of', 'day'
        ) }} as days_since_last_order,
        customers.last_order_at
    from customers
    cross join run_as_of
    left join recent_shopping_per_customer
        on customers.customer_id = recent_shopping_per_customer.customer_id

),

customers_staged as (

    select
        customer_id,
        case
            when orders_count = 0 and recent_shopping_events_count > 0 then 'consideration'
            when orders_count = 0 then 'awareness'
            when days_since_last_order > {{ var('segments__lifecycle_churned_after_days', 180) }} then 'churned'
            when days_since_last_order > {{ var('segments__lifecycle_at_risk_after_days', 90) }} then 'at_risk'
            when
                orders_count >= {{ var('segments__lifecycle_advocacy_min_orders', 4) }}
                and days_since_last_order <= {{ var('segments__lifecycle_advocacy_within_days', 60) }}
                then 'advocacy'
            when orders_count >= 2 then 'retention'
            else 'purchase'
        end as lifecycle_stage,
        orders_count,
        recent_shopping_events_count,
        days_since_last_order,
        last_order_at
    from customers_with_activity

)

select * from customers_staged
