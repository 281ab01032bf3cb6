{#-
    Every raw identifies row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__identifies keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage: a run checks only newly landed rows and the stored rows whose
    verdict they may change (macro staging_rows_to_check), and replaces those by (_source_file, _source_row).
-#}
{% set valid_customer_ids -%}
    (select customer_id from {{ ref('base_raw__customers') }} where rejection_reason is null)
{%- endset %}

with

source as (

    select *
    from {{ source('raw', 'identifies') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored ones whose verdict they (or new customers) may change
        where {{ staging_rows_to_check(source('raw', 'identifies'), 'identify_id', checks_customer=true) }}
    {% endif %}

),

checked as (

    select
        identify_id,
        anonymous_id,
        device_id,
        customer_id,
        lower(trim(email)) as email,
        occurred_at,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        {{ first_failing_check([
            ["identify_id is null", "missing_key"],
            ["customer_id is not null and " ~ not_in_subquery("customer_id", valid_customer_ids, "customer_id", "source"), "unknown_customer"],
            [event_time_out_of_range("occurred_at"), "timestamp_out_of_range"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'identify_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
