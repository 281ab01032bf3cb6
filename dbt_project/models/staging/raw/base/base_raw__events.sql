{#-
    Every raw events row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__events keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage: a run checks only newly landed rows and the stored rows whose
    verdict they may change (macro staging_rows_to_check), and replaces those by (_source_file, _source_row).
-#}
{% set valid_customer_ids -%}
    (select customer_id from {{ ref('base_raw__customers') }} where rejection_reason is null)
{%- endset %}

with

source as (

    select *
    from {{ source('raw', 'events') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored ones whose verdict they (or new customers) may change
        where {{ staging_rows_to_check(source('raw', 'events'), 'event_id', checks_customer=true) }}
    {% endif %}

),

checked as (

    select
        event_id,
        event_name,
        anonymous_id,
        customer_id,
        session_id,
        page_path,
        product_id,
        cart_id,
        order_id,
        feature_name,
        cart_value,
        occurred_at,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        {{ first_failing_check([
            ["event_id is null", "missing_key"],
            ["(event_name is null or event_name not in ('page_viewed', 'product_viewed', 'cart_updated', 'checkout_started', 'order_completed', 'trial_started', 'feature_used', 'subscription_renewal_scheduled', 'subscription_cancelled', 'logged_in'))", "invalid_value"],
            ["customer_id is not null and " ~ not_in_subquery("customer_id", valid_customer_ids, "customer_id", "source"), "unknown_customer"],
            [event_time_out_of_range("occurred_at"), "timestamp_out_of_range"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'event_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
