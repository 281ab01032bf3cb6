{#-
    Valid raw order_items: one row per order_item_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__order_items') }}

),

accepted as (

    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
