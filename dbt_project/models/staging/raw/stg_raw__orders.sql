{#-
    Valid raw orders: one row per order_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__orders') }}

),

accepted as (

    select
        order_id,
        customer_id,
        session_id,
        currency,
        revenue,
        discount_amount,
        item_count,
        ordered_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
