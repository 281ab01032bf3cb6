with

customer_rfm as (

    select * from {{ ref('customer_rfm') }}

),

members as (

    select
        customer_id,
        r_score || '-' || f_score || '-' || m_score as segment_value
    from customer_rfm
    where rfm_segment = 'loyal'

)

select * from members
