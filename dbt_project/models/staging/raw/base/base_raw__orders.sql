{#-
    Every raw orders row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__orders keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage: a run checks only newly landed rows and the stored rows whose
    verdict they may change (macro staging_rows_to_check), and replaces those by (_source_file, _source_row).
-#}
{% set valid_customer_ids -%}
    (select customer_id from {{ ref('base_raw__customers') }} where rejection_reason is null)
{%- endset %}

with

source as (

    select *
    from {{ source('raw', 'orders') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored ones whose verdict they (or new customers) may change
        where {{ staging_rows_to_check(source('raw', 'orders'), 'order_id', checks_customer=true) }}
    {% endif %}

),

checked as (

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
        _source_file,
        _source_row,
        _loaded_at,
        {{ first_failing_check([
            ["order_id is null", "missing_key"],
            ["(currency is null or currency not in ('EUR', 'USD', 'GBP'))", "invalid_value"],
            ["revenue < 0 or discount_amount < 0", "negative_amount"],
            ["customer_id is not null and " ~ not_in_subquery("customer_id", valid_customer_ids, "customer_id", "source"), "unknown_customer"],
            [event_time_out_of_range("ordered_at"), "timestamp_out_of_range"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'order_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
