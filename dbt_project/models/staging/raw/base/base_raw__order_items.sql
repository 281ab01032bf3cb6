{#-
    Every raw order_items row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__order_items keeps the valid rows, rejected_rows the others.
-#}
with

source as (

    -- to_json(<table alias>) serialises the whole raw row, exactly as it landed
    select
        *,
        to_json(source_rows) as raw_record
    from {{ source('raw', 'order_items') }} as source_rows  -- noqa: AL05

),

checked as (

    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        raw_record,
        {{ first_failing_check([
            ["order_item_id is null", "missing_key"],
            ["quantity < 0 or unit_price < 0", "negative_amount"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'order_item_id') }}

)

select * from deduplicated
