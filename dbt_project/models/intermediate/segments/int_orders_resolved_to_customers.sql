{#-
    Orders up to as_of with the resolved customer they belong to (customer_identities) and their amount in USD
    (identity_reporting_currency_amount, the customers mart's convention). What the segment families read.
-#}
with

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

shop_accounts_resolved as (

    {{ identity_shop_accounts('customer_identities') }}

),

orders_joined_to_customers as (

    select
        orders.order_id,
        shop_accounts_resolved.customer_id,
        {{ identity_reporting_currency_amount('orders.revenue', 'orders.currency') }} as revenue_usd,
        orders.discount_amount > 0 as is_discounted,
        cast(orders.ordered_at as date) as ordered_date,
        orders.ordered_at
    from orders
    inner join shop_accounts_resolved
        on orders.customer_id = shop_accounts_resolved.shop_customer_id
    where orders.ordered_at <= {{ as_of_timestamp() }}

)

select * from orders_joined_to_customers
