with

customer_lifecycle_stages as (

    select * from {{ ref('customer_lifecycle_stages') }}

),

members as (

    select
        customer_id,
        days_since_last_order as segment_value
    from customer_lifecycle_stages
    where lifecycle_stage = 'consideration'

)

select * from members
