{#-
    The conversions attributed: those converted in the conversion window (macro measurement_conversion_window).
-#}
with

conversions as (

    select * from {{ ref('conversions') }}

),

conversions_in_window as (

    select
        conversion_id,
        customer_id,
        conversion_type,
        order_id,
        subscription_id,
        tracker_session_id,
        revenue,
        converted_at
    from conversions
    where
        converted_at >= {{ measurement_conversion_window('start') }}
        and converted_at < {{ measurement_conversion_window('end') }}

)

select * from conversions_in_window
