{#-
    The over-merge guard: identifiers seen together with more shop customers than
    journeys__identity_max_customers_per_identifier (default 1). A shared family tablet, a cookie on a shop
    counter, an email address typed into two accounts: such an identifier cannot tell people apart, so none of
    its links is used to stitch (it is still listed, with no customer). With the default, two shop customers
    are never merged through an anonymous id, a device or an email.

    "Seen together" means in the same staging row (every identifier of a row is linked to the row's shop
    customer): int_identity_links_observed holds exactly those links.
-#}
with

identity_links as (

    select * from {{ ref('int_identity_links_observed') }}

),

links_to_shop_customers as (

    select
        identity_id,
        identifier_type,
        identifier_value,
        linked_identifier_value as shop_customer_id,
        first_seen_at,
        last_seen_at
    from identity_links
    where
        linked_identifier_type = 'shop_customer_id'
        and identifier_type <> 'shop_customer_id'

),

identifiers_seen_with_too_many_customers as (

    select
        identity_id,
        identifier_type,
        identifier_value,
        count(distinct shop_customer_id) as shop_customers_count,
        {{ dbt.listagg('shop_customer_id', "', '", 'order by shop_customer_id') }} as shop_customer_ids,
        min(first_seen_at) as first_seen_with_a_customer_at,
        max(last_seen_at) as last_seen_with_a_customer_at
    from links_to_shop_customers
    group by
        identity_id,
        identifier_type,
        identifier_value
    having count(distinct shop_customer_id) > {{ var('journeys__identity_max_customers_per_identifier', 1) }}

)

select * from identifiers_seen_with_too_many_customers
