{#-
    Connected components of an undirected graph, by iterative label propagation: every node starts with its
    own label and, at each iteration, takes the smallest label among itself and its neighbours. After k
    iterations a node holds the smallest label within k hops, so the result is exact once k reaches, in every
    component, the distance from the node with the smallest label to the farthest node. Callers choose labels
    so that this node is a hub (identity: shop customers sort first) and keep max_iterations above the
    distance; a test on the result (every edge inside one component) catches a bound that was too small.

    The iterations are unrolled into one query (each references the previous once), so the SQL is plain
    joins and aggregates that any warehouse runs as set operations.

    nodes: relation or CTE with node_id and initial_label (unique per node); every edge end must be a node
    edges: relation or CTE with node_id and neighbour_node_id, in either direction (duplicates are fine)
    max_iterations: the bound (an integer >= 1)
    Returns: a select of node_id, component_label (the smallest initial_label of the node's component).
-#}
{% macro identity_connected_components(nodes, edges, max_iterations) -%}
    {{ return(adapter.dispatch('identity_connected_components', 'journeys')(nodes, edges, max_iterations)) }}
{%- endmacro %}

{% macro default__identity_connected_components(nodes, edges, max_iterations) -%}
    {%- if max_iterations | int < 1 -%}
        {{ exceptions.raise_compiler_error("identity_connected_components: max_iterations must be >= 1, got " ~ max_iterations) }}
    {%- endif -%}
    with

    closed_neighbourhoods as (

        select
            node_id,
            node_id as neighbour_node_id
        from {{ nodes }}

        union

        select
            node_id,
            neighbour_node_id
        from {{ edges }}

        union

        select
            neighbour_node_id as node_id,
            node_id as neighbour_node_id
        from {{ edges }}

    ),

    labels_after_0 as (

        select
            node_id,
            initial_label as component_label
        from {{ nodes }}

    ),
    {%- for iteration in range(1, max_iterations | int + 1) %}

    labels_after_{{ iteration }} as (

        select
            closed_neighbourhoods.node_id,
            min(neighbour_labels.component_label) as component_label
        from closed_neighbourhoods
        inner join labels_after_{{ iteration - 1 }} as neighbour_labels
            on closed_neighbourhoods.neighbour_node_id = neighbour_labels.node_id
        group by closed_neighbourhoods.node_id

    ){{ ',' if not loop.last }}
    {%- endfor %}

    select
        node_id,
        component_label
    from labels_after_{{ max_iterations | int }}
{%- endmacro %}
