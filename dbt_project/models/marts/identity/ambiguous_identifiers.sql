{#-
    The over-merge guard's report: identifiers not used to stitch because they were seen with more shop
    customers than journeys__identity_max_customers_per_identifier (see int_identity_ambiguous_identifiers_detected).
    A data steward reads it to find shared devices, shop-counter cookies and emails typed into several accounts.
-#}
with

ambiguous_identifiers as (

    select * from {{ ref('int_identity_ambiguous_identifiers_detected') }}

),

reported as (

    select
        identity_id,
        identifier_type,
        identifier_value,
        shop_customer_ids,
        shop_customers_count,
        first_seen_with_a_customer_at,
        last_seen_with_a_customer_at
    from ambiguous_identifiers

)

select * from reported
