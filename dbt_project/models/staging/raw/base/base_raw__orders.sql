{#-
    Every raw orders row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__orders keeps the valid rows, rejected_rows the others.
-#}
{% set valid_customer_ids -%}
    (select customer_id from {{ ref('base_raw__customers') }} where rejection_reason is null)
{%- endset %}

with

source as (

    -- to_json(<table alias>) serialises the whole raw row, exactly as it landed
    select
        *,
        to_json(source_rows) as raw_record
    from {{ source('raw', 'orders') }} as source_rows  -- noqa: AL05

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
        raw_record,
        {{ first_failing_check([
            ["order_id is null", "missing_key"],
            ["(currency is null or currency not in ('EUR', 'USD', 'GBP'))", "invalid_value"],
            ["revenue < 0 or discount_amount < 0", "negative_amount"],
            ["customer_id is not null and customer_id not in " ~ valid_customer_ids, "unknown_customer"],
            [event_time_out_of_range("ordered_at"), "timestamp_out_of_range"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'order_id') }}

)

select * from deduplicated
