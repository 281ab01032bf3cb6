{#-
    The touches of every path, one row per (path, touch), numbered from the earliest (touch_number 1).

    Touches: touchpoints of resolved customers, sessions and the message events in
    measurement__path_message_events. A converting path is a conversion in the window and its customer's
    touches at most measurement__lookback_days before it (a touch at the conversion instant counts). A
    non-converting path is, per customer, the touches not followed by a conversion: with
    measurement__non_converting_paths = after_last_conversion, the touches after the customer's last conversion
    (before the window ends); with never_converted, all touches of a customer who never converted (before the
    window ends). It ends at its last touch, which must fall in the window, and keeps the touches at most
    lookback_days before that. measurement__path_max_steps > 0 keeps only the latest touches of a path.
    is_channel_repeat / is_step_repeat mark a touch whose channel (channel and campaign) equals the previous
    touch's: the exposure transform drops them.
-#}
{%- set lookback_days = var('measurement__lookback_days', 30) -%}
{%- set path_events = var('measurement__path_message_events', ['opened', 'clicked']) -%}
{%- set non_converting = var('measurement__non_converting_paths', 'after_last_conversion') -%}
{%- if non_converting not in ['after_last_conversion', 'never_converted'] -%}
    {{ exceptions.raise_compiler_error(
        "measurement__non_converting_paths must be after_last_conversion or never_converted, got " ~ non_converting) }}
{%- endif -%}
-- A table, not a view (the intermediate default): attribution_paths, the rule-based credits and their
-- unattributed check all read it; computed once it halves their time at 100k customers.
{{ config(materialized='table') }}

with

touchpoints as (

    select * from {{ ref('touchpoints') }}

),

conversions as (

    select * from {{ ref('conversions') }}

),

conversions_in_window as (

    select * from {{ ref('int_attribution_conversions_in_window') }}

),

path_touchpoints as (

    select *
    from touchpoints
    where
        customer_id is not null
        and (
            touch_type = 'session'
            or touch_event in ({{ measurement_sql_list(path_events) }})
        )

),

converting_path_touches as (

    select
        'conversion:' || conversions_in_window.conversion_id as path_id,
        conversions_in_window.customer_id,
        conversions_in_window.conversion_id,
        conversions_in_window.conversion_type,
        path_touchpoints.touchpoint_id,
        path_touchpoints.touch_type,
        path_touchpoints.channel,
        path_touchpoints.campaign,
        conversions_in_window.revenue,
        true as is_conversion,
        path_touchpoints.touched_at,
        conversions_in_window.converted_at as path_ended_at
    from conversions_in_window
    inner join path_touchpoints
        on
            conversions_in_window.customer_id = path_touchpoints.customer_id
            and conversions_in_window.converted_at >= path_touchpoints.touched_at
            and path_touchpoints.touched_at >= {{ dbt.dateadd(
                'day', -1 * lookback_days, 'conversions_in_window.converted_at'
            ) }}

),

last_conversions as (

    select
        customer_id,
        max(converted_at) as last_converted_at
    from conversions
    where converted_at < {{ measurement_conversion_window('end') }}
    group by customer_id

),

unconverted_touches as (

    select path_touchpoints.*
    from path_touchpoints
    left join last_conversions
        on path_touchpoints.customer_id = last_conversions.customer_id
    where
        path_touchpoints.touched_at < {{ measurement_conversion_window('end') }}
        {%- if non_converting == 'never_converted' %}
            and last_conversions.customer_id is null
        {%- else %}
            and (
                last_conversions.customer_id is null
                or path_touchpoints.touched_at > last_conversions.last_converted_at
            )
        {%- endif %}

),

non_converting_path_ends as (

    select
        customer_id,
        max(touched_at) as path_ended_at
    from unconverted_touches
    group by customer_id
    having max(touched_at) >= {{ measurement_conversion_window('start') }}

),

non_converting_path_touches as (

    select
        'non_conversion:' || non_converting_path_ends.customer_id as path_id,
        non_converting_path_ends.customer_id,
        cast(null as {{ dbt.type_string() }}) as conversion_id,
        cast(null as {{ dbt.type_string() }}) as conversion_type,
        unconverted_touches.touchpoint_id,
        unconverted_touches.touch_type,
        unconverted_touches.channel,
        unconverted_touches.campaign,
        cast(0 as decimal(18, 2)) as revenue,
        false as is_conversion,
        unconverted_touches.touched_at,
        non_converting_path_ends.path_ended_at
    from non_converting_path_ends
    inner join unconverted_touches
        on
            non_converting_path_ends.customer_id = unconverted_touches.customer_id
            and unconverted_touches.touched_at >= {{ dbt.dateadd(
                'day', -1 * lookback_days, 'non_converting_path_ends.path_ended_at'
            ) }}

),

path_touches as (

    select * from converting_path_touches
    union all
    select * from non_converting_path_touches

),

path_touches_trimmed as (

    select *
    from path_touches
    {%- if var('measurement__path_max_steps', 0) > 0 %}
        qualify row_number() over (
            partition by path_id order by touched_at desc, touchpoint_id desc
        ) <= {{ var('measurement__path_max_steps') }}
    {%- endif %}

),

path_touches_numbered as (

    select
        *,
        row_number() over path_order as touch_number,
        count(*) over (partition by path_id) as touches_in_path,
        coalesce(channel = lag(channel) over path_order, false) as is_channel_repeat,
        coalesce(
            channel = lag(channel) over path_order
            and campaign is not distinct from lag(campaign) over path_order,
            false
        ) as is_step_repeat
    from path_touches_trimmed
    window path_order as (partition by path_id order by touched_at, touchpoint_id)

)

select * from path_touches_numbered
