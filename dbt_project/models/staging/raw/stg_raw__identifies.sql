{#-
    Valid raw identifies: one row per identify_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__identifies') }}

),

accepted as (

    select
        identify_id,
        anonymous_id,
        device_id,
        customer_id,
        email,
        occurred_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
