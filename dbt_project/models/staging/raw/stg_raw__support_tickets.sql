{#-
    Valid raw support_tickets: one row per ticket_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__support_tickets') }}

),

accepted as (

    select
        ticket_id,
        customer_id,
        channel,
        priority,
        ticket_status,
        subject,
        body,
        created_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
