{#-
    Each customer's best local hour to send, learnt from the hours they reacted to messages in
    (int_messages_resolved_to_customers). docs/policy_learning.md has the estimator and the measured accuracy.

    Own hour: the mode of the customer's reaction hours (local), ties broken by the hour's score in their
    lifecycle stage, then globally, then the earliest hour. Used when the customer has at least
    policy__send_time_min_evidence reactions. Otherwise their lifecycle stage's hour, when at least
    policy__send_time_min_segment_customers customers of the stage have reactions; otherwise the global hour.
    A stage's (and the global) hour score is the mean of its customers' own hour distributions (each customer
    with reactions weighs 1, however often they react), so heavy engagers do not decide for everyone.
-#}
with

customers as (

    select * from {{ ref('customers') }}

),

lifecycle_stages as (

    select * from {{ ref('customer_lifecycle_stages') }}

),

messages as (

    select * from {{ ref('int_messages_resolved_to_customers') }}

),

hours_of_day as (

    select cast(hours.hour_local as integer) as hour_local
    from range(0, 24) as hours (hour_local)

),

reactions_per_customer_and_hour as (

    select
        customer_id,
        reaction_hour_local as hour_local,
        count(*) as reactions_count
    from messages
    where is_engaged
    group by customer_id, reaction_hour_local

),

reactions_per_customer as (

    select
        customer_id,
        sum(reactions_count) as reactions_count
    from reactions_per_customer_and_hour
    group by customer_id

),

hour_shares_per_customer as (

    select
        reactions_per_customer_and_hour.customer_id,
        lifecycle_stages.lifecycle_stage,
        reactions_per_customer_and_hour.hour_local,
        reactions_per_customer_and_hour.reactions_count,
        reactions_per_customer_and_hour.reactions_count / reactions_per_customer.reactions_count as hour_share
    from reactions_per_customer_and_hour
    inner join reactions_per_customer
        on reactions_per_customer_and_hour.customer_id = reactions_per_customer.customer_id
    inner join lifecycle_stages
        on reactions_per_customer_and_hour.customer_id = lifecycle_stages.customer_id

),

global_hour_scores as (

    select
        hours_of_day.hour_local,
        coalesce(sum(hour_shares_per_customer.hour_share), 0) as hour_score
    from hours_of_day
    left join hour_shares_per_customer
        on hours_of_day.hour_local = hour_shares_per_customer.hour_local
    group by hours_of_day.hour_local

),

global_best_hour as (

    -- with no reactions at all, every score is 0 and the configured default hour wins
    select hour_local as global_best_hour_local
    from global_hour_scores
    qualify row_number() over (
        order by
            hour_score desc,
            hour_local = {{ var('policy__send_time_default_hour', 10) }} desc,
            hour_local asc
    ) = 1

),

stage_hour_scores as (

    select
        lifecycle_stage,
        hour_local,
        sum(hour_share) as hour_score
    from hour_shares_per_customer
    group by lifecycle_stage, hour_local

),

stages_with_evidence as (

    select lifecycle_stage
    from hour_shares_per_customer
    group by lifecycle_stage
    having count(distinct customer_id) >= {{ var('policy__send_time_min_segment_customers', 30) }}

),

stage_best_hours as (

    select
        stage_hour_scores.lifecycle_stage,
        stage_hour_scores.hour_local as stage_best_hour_local
    from stage_hour_scores
    inner join stages_with_evidence
        on stage_hour_scores.lifecycle_stage = stages_with_evidence.lifecycle_stage
    inner join global_hour_scores
        on stage_hour_scores.hour_local = global_hour_scores.hour_local
    qualify row_number() over (
        partition by stage_hour_scores.lifecycle_stage
        order by stage_hour_scores.hour_score desc, global_hour_scores.hour_score desc, stage_hour_scores.hour_local asc
    ) = 1

),

customer_best_hours as (

    select
        hour_shares_per_customer.customer_id,
        hour_shares_per_customer.hour_local as customer_best_hour_local,
        hour_shares_per_customer.reactions_count as best_hour_reactions_count
    from hour_shares_per_customer
    left join stage_hour_scores
        on
            hour_shares_per_customer.lifecycle_stage = stage_hour_scores.lifecycle_stage
            and hour_shares_per_customer.hour_local = stage_hour_scores.hour_local
    inner join global_hour_scores
        on hour_shares_per_customer.hour_local = global_hour_scores.hour_local
    qualify row_number() over (
        partition by hour_shares_per_customer.customer_id
        order by
            hour_shares_per_customer.reactions_count desc,
            stage_hour_scores.hour_score desc,
            global_hour_scores.hour_score desc,
            hour_shares_per_customer.hour_local asc
    ) = 1

),

send_hours_chosen as (

    select
        customers.customer_id,
        customers.time_zone,
        lifecycle_stages.lifecycle_stage,
        case
            when
                coalesce(reactions_per_customer.reactions_count, 0)
                >= {{ var('policy__send_time_min_evidence', 1) }}
                then 'customer'
            when stage_best_hours.stage_best_hour_local is not null then 'segment'
            else 'global'
        end as source,  -- noqa: RF04
        case
            when
                coalesce(reactions_per_customer.reactions_count, 0)
                >= {{ var('policy__send_time_min_evidence', 1) }}
                then customer_best_hours.customer_best_hour_local
            else coalesce(stage_best_hours.stage_best_hour_local, global_best_hour.global_best_hour_local)
        end as best_hour_local,
        cast(coalesce(reactions_per_customer.reactions_count, 0) as integer) as evidence_count,
        cast(coalesce(customer_best_hours.best_hour_reactions_count, 0) as integer) as best_hour_evidence_count,
        customer_best_hours.customer_best_hour_local,
        stage_best_hours.stage_best_hour_local as segment_best_hour_local,
        global_best_hour.global_best_hour_local
    from customers
    cross join global_best_hour
    inner join lifecycle_stages
        on customers.customer_id = lifecycle_stages.customer_id
    left join reactions_per_customer
        on customers.customer_id = reactions_per_customer.customer_id
    left join customer_best_hours
        on customers.customer_id = customer_best_hours.customer_id
    left join stage_best_hours
        on lifecycle_stages.lifecycle_stage = stage_best_hours.lifecycle_stage

)

select * from send_hours_chosen
