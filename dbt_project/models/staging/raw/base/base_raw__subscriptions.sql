{#-
    Every raw subscriptions row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__subscriptions keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage: a run checks only newly landed rows and the stored rows whose
    verdict they may change (macro staging_rows_to_check), and replaces those by (_source_file, _source_row).
-#}
{% set valid_customer_ids -%}
    (select customer_id from {{ ref('base_raw__customers') }} where rejection_reason is null)
{%- endset %}

with

source as (

    select *
    from {{ source('raw', 'subscriptions') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored ones whose verdict they (or new customers) may change
        where {{ staging_rows_to_check(source('raw', 'subscriptions'), 'subscription_id', checks_customer=true) }}
    {% endif %}

),

checked as (

    select
        subscription_id,
        customer_id,
        plan,
        status as subscription_status,
        renewal_due_date,
        trial_started_at,
        started_at,
        cancelled_at,
        updated_at,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        {{ first_failing_check([
            ["subscription_id is null", "missing_key"],
            ["(plan is null or plan not in ('basic', 'plus', 'pro')) or (status is null or status not in ('trialing', 'active', 'past_due', 'cancelled'))", "invalid_value"],
            ["customer_id is not null and " ~ not_in_subquery("customer_id", valid_customer_ids, "customer_id", "source"), "unknown_customer"],
            [event_time_out_of_range("trial_started_at"), "timestamp_out_of_range"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'subscription_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
