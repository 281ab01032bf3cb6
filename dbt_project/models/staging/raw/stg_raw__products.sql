{#-
    Valid raw products: one row per product_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__products') }}

),

accepted as (

    select
        product_id,
        product_name,
        category,
        price,
        is_subscription,
        updated_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
