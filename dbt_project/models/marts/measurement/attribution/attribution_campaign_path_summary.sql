{#-
    Paths with at least one touch, grouped by their steps (channel and campaign of each step, in order):
    conversions, non-conversions and revenue. The campaign-level input of Markov, Shapley and fractribution.
-#}
with

paths as (

    select * from {{ ref('attribution_paths') }}

),

paths_summarised as (

    select
        transformed_path,
        channel_steps,
        campaign_steps,
        count(*) filter (where is_conversion) as conversions,
        count(*) filter (where not is_conversion) as non_conversions,
        coalesce(sum(revenue) filter (where is_conversion), 0) as revenue
    from paths
    where touches > 0
    group by transformed_path, channel_steps, campaign_steps

)

select * from paths_summarised
