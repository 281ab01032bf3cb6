{#-
    Every action the engine decided: one row per action, appended in the run that decided it and never
    rewritten. action_id = md5(journey_id | enrollment_id | node_id) is the key every downstream system
    (delivery policy, activation ledger, destinations' idempotency keys) uses.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

transitions as (

    select * from {{ ref('journey_transitions') }}

),

journey_nodes as (

    select * from {{ source('journey_config', 'journey_nodes') }}

),

arrivals_at_action_nodes as (

    select
        md5(transitions.journey_id || '|' || transitions.enrollment_id || '|' || transitions.to_node) as action_id,
        transitions.enrollment_id,
        transitions.journey_id,
        transitions.journey_version,
        transitions.customer_id,
        transitions.to_node as node_id,
        journey_nodes.action_kind,
        journey_nodes.channel,
        journey_nodes.template,
        journey_nodes.action_fields,
        journey_nodes.fallback_channels,
        journey_nodes.action_config,
        transitions.variant,
        transitions.transition_at as scheduled_at,
        transitions.decided_in_run,
        transitions.decided_as_of
    from transitions
    inner join journey_nodes
        on
            transitions.journey_id = journey_nodes.journey_id
            and transitions.to_node = journey_nodes.node_id
    where
        journey_nodes.node_type = 'action'
        -- incremental: only transitions of runs since the last recorded action (the anti-join removes repeats)
        and transitions.decided_as_of >= {% if is_incremental() %}(
            select coalesce(max(recorded.decided_as_of), cast('1900-01-01' as timestamp))
            from {{ this }} as recorded
        ){% else %}cast('1900-01-01' as timestamp){% endif %}

),

not_yet_recorded as (

    select arrivals_at_action_nodes.*
    from arrivals_at_action_nodes
    {% if is_incremental() %}
        left join {{ this }} as recorded
            on arrivals_at_action_nodes.action_id = recorded.action_id
        where recorded.action_id is null
    {% endif %}

)

select * from not_yet_recorded
