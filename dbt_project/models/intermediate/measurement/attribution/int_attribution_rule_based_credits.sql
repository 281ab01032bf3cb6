{#-
    The share of each conversion in the window that each rule-based model gives each touch of its path
    (docs/measurement.md, "Attribution", has the formulas). The credits of one conversion sum to 1 in every
    model; a conversion without a touch in the lookback gives its whole credit to channel 'unattributed'.
    n = touches in the path, k = a touch's number (1 = earliest):
    - first_touch: 1 for k = 1; last_touch: 1 for k = n;
    - last_non_direct: 1 for the last touch whose channel is not in measurement__direct_channels (the last
      touch when all are direct);
    - linear: 1/n;
    - time_decay: 2^(-age/h) normalised over the path; age = conversion time - touch time, h =
      measurement__time_decay_half_life_days;
    - position_based: n = 1: 1; n = 2: 1/2 each; n >= 3: s for the first and the last, (1 - 2s)/(n - 2) for the
      others, s = measurement__position_based_end_share (0.4: the 40/20/40 rule).
-#}
{%- set direct_channels = var('measurement__direct_channels', ['direct']) -%}
{%- set half_life_seconds = var('measurement__time_decay_half_life_days', 7) * 86400 -%}
{%- set end_share = var('measurement__position_based_end_share', 0.4) -%}
{%- if not (0 <= end_share <= 0.5) -%}
    {{ exceptions.raise_compiler_error(
        "measurement__position_based_end_share must be between 0 and 0.5, got " ~ end_share) }}
{%- endif -%}
{%- if half_life_seconds <= 0 -%}
    {{ exceptions.raise_compiler_error("measurement__time_decay_half_life_days must be positive") }}
{%- endif -%}
with

path_touches as (

    select * from {{ ref('int_attribution_path_touches') }}

),

conversions_in_window as (

    select * from {{ ref('int_attribution_conversions_in_window') }}

),

converting_touches as (

    select
        path_id,
        conversion_id,
        channel,
        campaign,
        revenue,
        touch_number,
        touches_in_path,
        coalesce(
            max(
                case when channel not in ({{ measurement_sql_list(direct_channels) }}) then touch_number end
            ) over (partition by path_id),
            touches_in_path
        ) as last_non_direct_number,
        pow(
            0.5, ({{ epoch_seconds('path_ended_at') }} - {{ epoch_seconds('touched_at') }}) / {{ half_life_seconds }}
        ) as decay_weight
    from path_touches
    where is_conversion

),

touch_credits as (

    select
        path_id,
        conversion_id,
        channel,
        campaign,
        revenue,
        case when touch_number = 1 then 1.0 else 0.0 end as first_touch,
        case when touch_number = touches_in_path then 1.0 else 0.0 end as last_touch,
        case when touch_number = last_non_direct_number then 1.0 else 0.0 end as last_non_direct,
        1.0 / touches_in_path as linear,
        decay_weight / sum(decay_weight) over (partition by path_id) as time_decay,
        case
            when touches_in_path = 1 then 1.0
            when touches_in_path = 2 then 0.5
            when touch_number in (1, touches_in_path) then {{ end_share }}
            else (1 - 2 * {{ end_share }}) / (touches_in_path - 2)
        end as position_based
    from converting_touches

),

credits_unpivoted as (

    {{ unpivot_columns(
        'touch_credits',
        ['first_touch', 'last_touch', 'last_non_direct', 'linear', 'time_decay', 'position_based'],
        'attribution_model', 'credit'
    ) }}

),

unattributed_conversions as (

    select
        conversion_id,
        revenue
    from conversions_in_window
    where not exists (
        select 1 from path_touches
        where path_touches.path_id = 'conversion:' || conversions_in_window.conversion_id
    )

),

unattributed_credits as (

    select
        unattributed_conversions.conversion_id,
        models.attribution_model,
        'unattributed' as channel,
        cast(null as {{ dbt.type_string() }}) as campaign,
        unattributed_conversions.revenue,
        1.0 as credit
    from unattributed_conversions
    cross join (
        values ('first_touch'), ('last_touch'), ('last_non_direct'), ('linear'), ('time_decay'), ('position_based')
    ) as models (attribution_model)

),

credits as (

    select
        conversion_id,
        attribution_model,
        channel,
        campaign,
        revenue,
        credit
    from credits_unpivoted
    where credit > 0
    union all
    select
        conversion_id,
        attribution_model,
        channel,
        campaign,
        revenue,
        credit
    from unattributed_credits

)

select * from credits
