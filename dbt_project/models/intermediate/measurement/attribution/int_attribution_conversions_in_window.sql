{#-
    The conversions attributed: those converted in the conversion window (macro measurement_conversion_window).
-#}
with

conversions as (

    select * from {{ ref('conversions') }}

),

conversions_in_window as (

    select *
    from conversions
    where
        converted_at >= {{ measurement_conversion_window('start') }}
        and converted_at < {{ measurement_conversion_window('end') }}

)

select * from conversions_in_window
