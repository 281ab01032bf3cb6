{#-
    Valid raw message_engagement: one row per message_event_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__message_engagement') }}

),

accepted as (

    select
        message_event_id,
        message_id,
        customer_id,
        channel,
        campaign_name,
        event_type,
        bounce_type,
        occurred_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
