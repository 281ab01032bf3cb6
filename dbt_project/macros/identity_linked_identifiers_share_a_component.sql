{#-
    Generic test on customer_identities: fails with every identity link whose two identifiers were not
    resolved into the same component (ambiguous identifiers excepted: their links are not used), or whose
    identifiers have no resolution at all.

    This is the convergence check of label propagation (identity_connected_components): the labels are
    exact if and only if every used link joins two identifiers with the same component. It also catches an
    incremental run that recomputed one part of a component and not the rest.

    links: the relation of identity links (identity_id, linked_identity_id).
-#}
{% test identity_linked_identifiers_share_a_component(model, links) %}

with

identities as (

    select * from {{ model }}

),

identity_links as (

    select * from {{ links }}

),

links_with_their_resolutions as (

    select
        identity_links.identity_id,
        identity_links.linked_identity_id,
        identities.identity_id as resolved_identity_id,
        linked_identities.identity_id as resolved_linked_identity_id,
        identities.component_id,
        linked_identities.component_id as linked_component_id,
        coalesce(identities.is_ambiguous or linked_identities.is_ambiguous, false) as has_ambiguous_end
    from identity_links
    left join identities
        on identity_links.identity_id = identities.identity_id
    left join identities as linked_identities
        on identity_links.linked_identity_id = linked_identities.identity_id

)

select *
from links_with_their_resolutions
where
    resolved_identity_id is null
    or resolved_linked_identity_id is null
    or (not has_ambiguous_end and component_id <> linked_component_id)

{% endtest %}
