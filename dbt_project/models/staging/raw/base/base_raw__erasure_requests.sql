{#-
    Every raw erasure request, typed and renamed, with the first check it fails in rejection_reason (null when
    valid). Emails are normalised (trimmed, lower-cased) for matching. A request for a customer_id no customer
    row has is valid: it still erases whatever arrives for that customer. Never filters: stg_raw__erasure_requests
    keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage (macro staging_rows_to_check), like the other base models.
-#}
with

source as (

    select *
    from {{ source('raw', 'erasure_requests') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored rows of their keys (duplicate_key ranks every row of a key)
        where {{ staging_rows_to_check(source('raw', 'erasure_requests'), 'request_id') }}
    {% endif %}

),

checked as (

    select
        request_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(lower(trim(email)), '') as email,
        requested_by,
        requested_at,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        {{ first_failing_check([
            ["request_id is null", "missing_key"],
            ["nullif(trim(customer_id), '') is null and nullif(trim(email), '') is null", "missing_identifier"],
            [event_time_out_of_range("requested_at"), "timestamp_out_of_range"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'request_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
