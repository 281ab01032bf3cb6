{#-
    Every raw products row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__products keeps the valid rows, rejected_rows the others.
-#}
with

source as (

    -- to_json(<table alias>) serialises the whole raw row, exactly as it landed
    select
        *,
        to_json(source_rows) as raw_record
    from {{ source('raw', 'products') }} as source_rows  -- noqa: AL05

),

checked as (

    select
        product_id,
        product_name,
        category,
        price,
        is_subscription,
        updated_at,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        raw_record,
        {{ first_failing_check([
            ["product_id is null", "missing_key"],
            ["price < 0", "negative_amount"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'product_id') }}

)

select * from deduplicated
