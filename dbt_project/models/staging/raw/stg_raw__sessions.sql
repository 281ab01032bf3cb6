{#-
    Valid raw sessions: one row per session_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__sessions') }}

),

accepted as (

    select
        session_id,
        anonymous_id,
        device_id,
        customer_id,
        utm_source,
        utm_medium,
        utm_campaign,
        referrer,
        landing_page,
        {{ marketing_channel('utm_source', 'utm_medium', 'referrer') }} as marketing_channel,
        started_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
