{#-
    Moves between nodes, for Sankey diagrams (docs/measurement.md, "Journey analytics"): one row per journey,
    version and (source node, target node) with the enrollments that made that move. An enrollment's first move
    comes from '__entry__'; every end goes to '__exit__'. journey_version is the version whose graph decided the
    move. Journeys are acyclic, so an enrollment makes each move at most once.
-#}
with

transitions as (

    select * from {{ ref('journey_transitions') }}

),

enrollments as (

    select * from {{ ref('journey_enrollment_outcomes') }}

),

flows as (

    -- count(*) counts enrollments: within one version an enrollment makes a move at most once (acyclic graphs)
    select
        transitions.journey_id,
        transitions.journey_version,
        coalesce(transitions.from_node, '__entry__') as source_node_id,
        transitions.to_node as target_node_id,
        count(*) as enrollments,
        count(*) filter (where transitions.variant = 'holdout') as holdout_enrollments,
        count(*) filter (where enrollments.is_converted) as converted_enrollments
    from transitions
    left join enrollments
        on transitions.enrollment_id = enrollments.enrollment_id
    group by
        transitions.journey_id,
        transitions.journey_version,
        coalesce(transitions.from_node, '__entry__'),
        transitions.to_node

)

select * from flows
