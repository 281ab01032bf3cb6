{#-
    Valid raw consent_events: one row per consent_event_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__consent_events') }}

),

accepted as (

    select
        consent_event_id,
        customer_id,
        channel,
        purpose,
        consent_status,
        consent_source,
        is_double_opt_in,
        occurred_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
