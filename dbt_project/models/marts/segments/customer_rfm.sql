{#-
    RFM as of the run, the BG/NBD way (lifetimes' summary_data_from_transaction_data with freq='D'): orders are
    grouped into order days (UTC dates); frequency = order days - 1 (repeat purchase days), recency = last order
    day - first order day, T = as_of date - first order day, monetary_value = mean USD value of the repeat order
    days (each day's orders summed; 0 for one-time buyers, as lifetimes does).

    Scores 1-5 are quintiles by rank: score = 1 + floor(5 * (rank - 1) / buyers), rank ascending in the "better"
    direction, so tied values always share a score (all one-time buyers tie on frequency and monetary value, and
    get F = M = 1). The R score ranks days since the last order day (fewer is better).
-#}
with

orders as (

    select * from {{ ref('int_orders_resolved_to_customers') }}

),

order_days as (

    select
        customer_id,
        ordered_date,
        sum(revenue_usd) as revenue_usd
    from orders
    group by customer_id, ordered_date

),

order_days_numbered as (

    select
        customer_id,
        ordered_date,
        revenue_usd,
        row_number() over (partition by customer_id order by ordered_date) as order_day_number
    from order_days

),

run_dates as (

    select cast({{ as_of_timestamp() }} as date) as as_of_date

),

order_days_per_customer as (

    select
        customer_id,
        count(*) - 1 as frequency,
        coalesce(avg(case when order_day_number > 1 then revenue_usd end), 0) as monetary_value,
        min(ordered_date) as first_order_date,
        max(ordered_date) as last_order_date
    from order_days_numbered
    group by customer_id

),

summary_per_customer as (

    select
        order_days_per_customer.customer_id,
        order_days_per_customer.frequency,
        {{ dbt.datediff(
            'order_days_per_customer.first_order_date', 'order_days_per_customer.last_order_date', 'day'
        ) }} as recency,
        {{ dbt.datediff(
            'order_days_per_customer.first_order_date', 'run_dates.as_of_date', 'day'
        ) }} as t,
        order_days_per_customer.monetary_value,
        {{ dbt.datediff(
            'order_days_per_customer.last_order_date', 'run_dates.as_of_date', 'day'
        ) }} as days_since_last_order,
        order_days_per_customer.first_order_date,
        order_days_per_customer.last_order_date
    from order_days_per_customer
    cross join run_dates

),

scored as (

    select
        *,
        1 + floor(
            5 * (rank() over (order by days_since_last_order desc) - 1) / count(*) over ()
        ) as r_score,
        1 + floor(5 * (rank() over (order by frequency) - 1) / count(*) over ()) as f_score,
        1 + floor(5 * (rank() over (order by monetary_value) - 1) / count(*) over ()) as m_score
    from summary_per_customer

),

rfm_segmented as (

    select
        customer_id,
        case
            when r_score >= 4 and f_score >= 4 and m_score >= 4 then 'champions'
            when r_score >= 3 and f_score >= 3 then 'loyal'
            when r_score >= 4 and frequency = 0 then 'new_customers'
            when r_score >= 3 then 'needs_attention'
            else 'hibernating'
        end as rfm_segment,
        cast(frequency as integer) as frequency,
        cast(recency as integer) as recency,
        cast(t as integer) as t,
        cast(monetary_value as decimal(18, 2)) as monetary_value,
        cast(days_since_last_order as integer) as days_since_last_order,
        cast(r_score as integer) as r_score,
        cast(f_score as integer) as f_score,
        cast(m_score as integer) as m_score,
        first_order_date,
        last_order_date
    from scored

)

select * from rfm_segmented
