{#-
    Valid raw events: one row per event_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__events') }}

),

accepted as (

    select
        event_id,
        event_name,
        anonymous_id,
        customer_id,
        session_id,
        page_path,
        product_id,
        cart_id,
        order_id,
        feature_name,
        cart_value,
        occurred_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
