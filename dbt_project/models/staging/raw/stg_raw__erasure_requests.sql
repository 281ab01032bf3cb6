{#-
    Valid erasure requests: one row per request_id (the first received wins), email normalised.
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__erasure_requests') }}

),

accepted as (

    select
        request_id,
        customer_id,
        email,
        requested_by,
        requested_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
