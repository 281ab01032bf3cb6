{#-
    Identity resolution: every identifier (anonymous_id, device_id, email, shop_customer_id) with the customer
    it belongs to. Customers are the connected components of the identity graph (int_identity_links_observed,
    without the links of ambiguous identifiers); a component's customer_id is its smallest shop customer_id, and
    a component without one is an anonymous visitor (customer_id null).

    Components come from label propagation (macro identity_connected_components). Shop customers' labels sort
    first, so the label that wins is the smallest shop customer's and it spreads from that hub: every identifier
    of a customer is one link away from it (two for a cookie seen only anonymously on a device of theirs).
    journeys__identity_max_iterations (default 8) leaves room for longer paths; the test
    identity_linked_identifiers_share_a_component fails if a component did not converge.

    Incremental: only the components touched by links written since the last run (int_identity_links_observed
    ._updated_at) are recomputed, from all their links; their identifiers are replaced whole. This is exact
    because a component is closed: a link that is not new joins two identifiers of the same stored component.
    Changing journeys__identity_max_customers_per_identifier needs a --full-refresh.
-#}
{#- Spark: rebuilt whole every run (materialized table): parquet tables cannot delete the rows an incremental
    run replaces, and they do not fall into partitions that could be overwritten whole. -#}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        unique_key='identity_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

identity_links as (

    select * from {{ ref('int_identity_links_observed') }}

),

ambiguous_identifiers as (

    select * from {{ ref('int_identity_ambiguous_identifiers_detected') }}

),

links_written_since_last_run as (

    select
        identity_links.identity_id,
        identity_links.linked_identity_id
    from identity_links
    {% if is_incremental() %}
        where identity_links._updated_at > (
            select coalesce(max(stored_identities._updated_at), cast('1900-01-01' as timestamp))
            from {{ this }} as stored_identities
        )
    {% endif %}

),

identities_touched as (

    select identity_id from links_written_since_last_run

    union

    select linked_identity_id as identity_id from links_written_since_last_run

),

-- a touched identifier's whole stored component is recomputed: components are closed under the links
identities_to_resolve as (

    select identity_id from identities_touched
    {% if is_incremental() %}
        union

        select stored_identities.identity_id
        from {{ this }} as stored_identities
        inner join {{ this }} as touched_stored_identities
            on stored_identities.component_id = touched_stored_identities.component_id
        inner join identities_touched
            on touched_stored_identities.identity_id = identities_touched.identity_id
    {% endif %}

),

links_in_scope as (

    select identity_links.*
    from identity_links
    {% if is_incremental() %}
        where
            identity_links.identity_id in (select identities_to_resolve.identity_id from identities_to_resolve)
            or identity_links.linked_identity_id in (
                select identities_to_resolve.identity_id from identities_to_resolve
            )
    {% endif %}

),

identity_sightings as (

    select
        identity_id,
        identifier_type,
        identifier_value,
        first_seen_at,
        last_seen_at,
        _loaded_at
    from links_in_scope

    union all

    select
        linked_identity_id as identity_id,
        linked_identifier_type as identifier_type,
        linked_identifier_value as identifier_value,
        first_seen_at,
        last_seen_at,
        _loaded_at
    from links_in_scope
    where linked_identity_id <> identity_id

),

identities as (

    select
        identity_sightings.identity_id,
        identity_sightings.identifier_type,
        identity_sightings.identifier_value,
        ambiguous_identifiers.identity_id is not null as is_ambiguous,
        min(identity_sightings.first_seen_at) as first_seen_at,
        max(identity_sightings.last_seen_at) as last_seen_at,
        max(identity_sightings._loaded_at) as _loaded_at
    from identity_sightings
    -- links_in_scope may reach outside the scope only through an ambiguous identifier's unused links
    inner join identities_to_resolve
        on identity_sightings.identity_id = identities_to_resolve.identity_id
    left join ambiguous_identifiers
        on identity_sightings.identity_id = ambiguous_identifiers.identity_id
    group by
        identity_sightings.identity_id,
        identity_sightings.identifier_type,
        identity_sightings.identifier_value,
        ambiguous_identifiers.identity_id

),

graph_nodes as (

    select
        identity_id as node_id,
        -- shop customers win: a component's label is its smallest shop customer, when it has one
        case when identifier_type = 'shop_customer_id' then '0' else '1' end || identity_id as initial_label
    from identities

),

graph_edges as (

    select
        identity_links.identity_id as node_id,
        identity_links.linked_identity_id as neighbour_node_id
    from links_in_scope as identity_links
    inner join identities
        on identity_links.identity_id = identities.identity_id
    inner join identities as linked_identities
        on identity_links.linked_identity_id = linked_identities.identity_id
    where
        identity_links.identity_id <> identity_links.linked_identity_id
        and not identities.is_ambiguous
        and not linked_identities.is_ambiguous

),

components as (

    {{ identity_connected_components('graph_nodes', 'graph_edges', var('journeys__identity_max_iterations', 8)) }}

),

identities_resolved as (

    select
        identities.identity_id,
        case
            when representatives.identifier_type = 'shop_customer_id' then representatives.identifier_value
        end as customer_id,
        representatives.identity_id as component_id,
        identities.identifier_type,
        identities.identifier_value,
        identities.is_ambiguous,
        identities.first_seen_at,
        identities.last_seen_at,
        identities._loaded_at,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp) as _updated_at
    from identities
    inner join components
        on identities.identity_id = components.node_id
    inner join graph_nodes as representative_nodes
        on components.component_label = representative_nodes.initial_label
    inner join identities as representatives
        on representative_nodes.node_id = representatives.identity_id

),

-- when the customer last changed: customer_event_stream re-resolves only the events of these identifiers
identities_stamped as (

    select
        identities_resolved.*,
        {% if is_incremental() %}
            case
                when
                    stored_identities.identity_id is not null
                    and coalesce(
                        identities_resolved.customer_id = stored_identities.customer_id,
                        identities_resolved.customer_id is null and stored_identities.customer_id is null
                    )
                    then stored_identities._customer_id_changed_at
                else identities_resolved._updated_at
            end as _customer_id_changed_at
        {% else %}
            identities_resolved._updated_at as _customer_id_changed_at
        {% endif %}
    from identities_resolved
    {% if is_incremental() %}
        left join {{ this }} as stored_identities
            on identities_resolved.identity_id = stored_identities.identity_id
    {% endif %}

)

select * from identities_stamped
