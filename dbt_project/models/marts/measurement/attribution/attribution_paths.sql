{#-
    One row per path: each conversion in the window (with the touches before it; none when it had no touch in
    the lookback) and each customer's non-converting path (int_attribution_path_touches). channel_path lists
    the channels of its touches in time order; transformed_path applies measurement__path_transform (exposure:
    consecutive repeats of a channel collapse into one); channel_steps / campaign_steps are the path's steps as
    lists, with consecutive repeats of the same (channel, campaign) collapsed under the exposure transform.
-#}
{%- set transform = var('measurement__path_transform', 'exposure') -%}
{%- if transform not in ['exposure', 'none'] -%}
    {{ exceptions.raise_compiler_error("measurement__path_transform must be exposure or none, got " ~ transform) }}
{%- endif -%}
with

path_touches as (

    select * from {{ ref('int_attribution_path_touches') }}

),

conversions_in_window as (

    select * from {{ ref('int_attribution_conversions_in_window') }}

),

paths_from_touches as (

    select
        path_id,
        min(customer_id) as customer_id,
        min(conversion_id) as conversion_id,
        min(conversion_type) as conversion_type,
        {{ ordered_string_agg('channel', ' > ', 'touch_number') }} as channel_path,
        {%- if transform == 'exposure' %}
            {{ ordered_string_agg(
                'channel', ' > ', 'touch_number', filter='not is_channel_repeat'
            ) }} as transformed_path,
            {{ ordered_list_agg('channel', 'touch_number', filter='not is_step_repeat') }} as channel_steps,
            {{ ordered_list_agg('campaign', 'touch_number', filter='not is_step_repeat') }} as campaign_steps,
        {%- else %}
            {{ ordered_string_agg('channel', ' > ', 'touch_number') }} as transformed_path,
            {{ ordered_list_agg('channel', 'touch_number') }} as channel_steps,
            {{ ordered_list_agg('campaign', 'touch_number') }} as campaign_steps,
        {%- endif %}
        count(*) as touches,
        min(revenue) as revenue,
        bool_or(is_conversion) as is_conversion,
        min(touched_at) as first_touched_at,
        min(path_ended_at) as path_ended_at
    from path_touches
    group by path_id

),

conversions_without_touches as (

    select
        'conversion:' || conversions_in_window.conversion_id as path_id,
        conversions_in_window.customer_id,
        conversions_in_window.conversion_id,
        conversions_in_window.conversion_type,
        cast(null as {{ dbt.type_string() }}) as channel_path,
        cast(null as {{ dbt.type_string() }}) as transformed_path,
        cast(null as {{ type_string_array() }}) as channel_steps,
        cast(null as {{ type_string_array() }}) as campaign_steps,
        0 as touches,
        conversions_in_window.revenue,
        true as is_conversion,
        cast(null as timestamp) as first_touched_at,
        conversions_in_window.converted_at as path_ended_at
    from conversions_in_window
    where not exists (
        select 1 from path_touches
        where path_touches.path_id = 'conversion:' || conversions_in_window.conversion_id
    )

),

paths as (

    select * from paths_from_touches
    union all
    select * from conversions_without_touches

)

select * from paths
