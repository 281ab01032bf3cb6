{#-
    Shop accounts (raw customer ids) resolved to customers: shop_customer_id -> customer_id, from the identity
    graph relation `identities` (customer_identities). Raw tables keyed by the shop's customer_id (orders,
    consent, engagement) join through it.
-#}
{% macro identity_shop_accounts(identities) -%}
    select
        identifier_value as shop_customer_id,
        customer_id
    from {{ identities }}
    where
        identifier_type = 'shop_customer_id'
        and customer_id is not null
{%- endmacro %}
