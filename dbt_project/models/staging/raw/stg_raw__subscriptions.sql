{#-
    Valid raw subscriptions: one row per subscription_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__subscriptions') }}

),

accepted as (

    select
        subscription_id,
        customer_id,
        plan,
        subscription_status,
        renewal_due_date,
        trial_started_at,
        started_at,
        cancelled_at,
        updated_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
