with

customer_personas as (

    select * from {{ ref('customer_personas') }}

),

members as (

    select
        customer_id,
        orders_count as segment_value
    from customer_personas
    where persona = 'bargain_hunter'

)

select * from members
