{#-
    Every raw products row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__products keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage: a run checks only newly landed rows and the stored rows whose
    verdict they may change (macro staging_rows_to_check), and replaces those by (_source_file, _source_row).
-#}
with

source as (

    select *
    from {{ source('raw', 'products') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored ones whose verdict they (or new customers) may change
        where {{ staging_rows_to_check(source('raw', 'products'), 'product_id') }}
    {% endif %}

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
        {{ first_failing_check([
            ["product_id is null", "missing_key"],
            ["price < 0", "negative_amount"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'product_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
