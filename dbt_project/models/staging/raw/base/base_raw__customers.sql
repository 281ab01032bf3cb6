{#-
    Every raw customers row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__customers keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage: a run checks only newly landed rows and the stored rows whose
    verdict they may change (macro staging_rows_to_check), and replaces those by (_source_file, _source_row).
-#}
with

source as (

    select *
    from {{ source('raw', 'customers') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored ones whose verdict they (or new customers) may change
        where {{ staging_rows_to_check(source('raw', 'customers'), 'customer_id') }}
    {% endif %}

),

checked as (

    select
        customer_id,
        first_name,
        lower(trim(email)) as email,
        phone,
        push_token,
        upper(country_code) as country_code,
        time_zone,
        signed_up_at,
        updated_at,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        {{ first_failing_check([
            ["customer_id is null", "missing_key"],
            [event_time_out_of_range("signed_up_at"), "timestamp_out_of_range"],
            ["email is not null and not " ~ regexp_matches_whole("trim(email)", "[^@ ]+@[^@ ]+[.][^@ ]+"), "invalid_email"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'customer_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
