{#-
    Every raw customers row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__customers keeps the valid rows, rejected_rows the others.
-#}
with

source as (

    -- to_json(<table alias>) serialises the whole raw row, exactly as it landed
    select
        *,
        to_json(source_rows) as raw_record
    from {{ source('raw', 'customers') }} as source_rows  -- noqa: AL05

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
        raw_record,
        {{ first_failing_check([
            ["customer_id is null", "missing_key"],
            [event_time_out_of_range("signed_up_at"), "timestamp_out_of_range"],
            ["email is not null and not regexp_full_match(trim(email), '[^@ ]+@[^@ ]+[.][^@ ]+')", "invalid_email"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'customer_id') }}

)

select * from deduplicated
