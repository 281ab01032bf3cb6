{#-
    Valid raw customers: one row per customer_id (the first received wins).
    Rows that failed a check are kept in rejected_rows with the reason.
-#}
with

validated as (

    select * from {{ ref('base_raw__customers') }}

),

accepted as (

    select
        customer_id,
        first_name,
        email,
        phone,
        push_token,
        country_code,
        time_zone,
        signed_up_at,
        updated_at,
        received_at,
        _loaded_at
    from validated
    where rejection_reason is null

)

select * from accepted
