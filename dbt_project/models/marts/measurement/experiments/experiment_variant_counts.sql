{#-
    Per experiment variant: the configured weight and the counts the statistics need (docs/measurement.md,
    "Experiments"). Everything countable is counted here, in SQL; the Dagster asset
    measurement/experiment_results (measurement/experiments.py) turns these rows into tests and intervals.

    Variants come from the current journey configuration, so a variant that received no exposure still has a
    row (with 0 exposures) and takes part in the sample-ratio test. Only journeys with a goal have experiments.
-#}
with

journeys as (

    select * from {{ source('journey_config', 'journeys') }}

),

branches as (

    select * from {{ source('journey_config', 'journey_branches') }}

),

exposures as (

    select * from {{ ref('int_experiment_exposures_joined_to_conversions') }}

),

holdout_variants as (

    select
        journey_id,
        'holdout' as experiment_id,
        'treatment' as variant,
        100 - holdout_percent as expected_weight,
        false as is_control
    from journeys
    where holdout_percent > 0 and goal_event is not null

    union all

    select
        journey_id,
        'holdout' as experiment_id,
        'holdout' as variant,
        holdout_percent as expected_weight,
        true as is_control
    from journeys
    where holdout_percent > 0 and goal_event is not null

),

split_variants as (

    select
        branches.journey_id,
        branches.node_id as experiment_id,
        branches.next_node as variant,
        sum(branches.weight) as expected_weight,
        min(branches.branch_index) = 0 as is_control
    from branches
    inner join journeys
        on branches.journey_id = journeys.journey_id
    where branches.weight is not null and journeys.goal_event is not null
    group by branches.journey_id, branches.node_id, branches.next_node

),

variants as (

    select * from holdout_variants
    union all
    select * from split_variants

),

exposures_counted as (

    select
        journey_id,
        experiment_id,
        variant,
        count(*) as exposures,
        count(*) filter (where is_converted) as conversions,
        sum(revenue) as revenue,
        sum(revenue * revenue) as revenue_sum_squares,
        min(exposed_at) as first_exposed_at,
        max(exposed_at) as last_exposed_at
    from exposures
    group by journey_id, experiment_id, variant

),

variant_counts as (

    select
        variants.journey_id,
        variants.experiment_id,
        variants.variant,
        cast(variants.expected_weight as double) as expected_weight,
        coalesce(exposures_counted.exposures, 0) as exposures,
        coalesce(exposures_counted.conversions, 0) as conversions,
        cast(coalesce(exposures_counted.revenue, 0) as double) as revenue,
        cast(coalesce(exposures_counted.revenue_sum_squares, 0) as double) as revenue_sum_squares,
        variants.is_control,
        exposures_counted.first_exposed_at,
        exposures_counted.last_exposed_at
    from variants
    left join exposures_counted
        on
            variants.journey_id = exposures_counted.journey_id
            and variants.experiment_id = exposures_counted.experiment_id
            and variants.variant = exposures_counted.variant

)

select * from variant_counts
