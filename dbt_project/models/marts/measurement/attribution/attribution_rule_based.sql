{#-
    Rule-based attribution (first_touch, last_touch, last_non_direct, linear, time_decay, position_based) per
    channel and campaign: the conversions in the window and their revenue, split by
    int_attribution_rule_based_credits. Per model, attributed_conversions sums to the conversions in the window
    and attributed_revenue to their revenue. The contract tables channel_attribution and campaign_attribution
    (orchestration/attribution_assets.py) add the Markov, Shapley and fractribution models to these rows.
-#}
with

credits as (

    select * from {{ ref('int_attribution_rule_based_credits') }}

),

credits_summed as (

    select
        attribution_model,
        channel,
        campaign,
        sum(credit) as attributed_conversions,
        sum(credit * revenue) as attributed_revenue
    from credits
    group by attribution_model, channel, campaign

)

select * from credits_summed
