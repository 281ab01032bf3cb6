{#-
    Paths with at least one touch, grouped by transformed_path: how many converted, how many did not, and the
    revenue of those that did. What Markov, Shapley and fractribution read (orchestration/attribution_assets.py).
-#}
with

paths as (

    select * from {{ ref('attribution_paths') }}

),

paths_summarised as (

    select
        transformed_path,
        count(*) filter (where is_conversion) as conversions,
        count(*) filter (where not is_conversion) as non_conversions,
        coalesce(sum(revenue) filter (where is_conversion), 0) as revenue
    from paths
    where touches > 0
    group by transformed_path

)

select * from paths_summarised
