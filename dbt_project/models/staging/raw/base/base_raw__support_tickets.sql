{#-
    Every raw support_tickets row, typed and renamed, with the first check it fails in rejection_reason
    (null when valid). Never filters: stg_raw__support_tickets keeps the valid rows, rejected_rows the others.
    A table, incremental on the raw lineage: a run checks only newly landed rows and the stored rows whose
    verdict they may change (macro staging_rows_to_check), and replaces those by (_source_file, _source_row).
-#}
{% set valid_customer_ids -%}
    (select customer_id from {{ ref('base_raw__customers') }} where rejection_reason is null)
{%- endset %}

with

source as (

    select *
    from {{ source('raw', 'support_tickets') }} as source_rows  -- noqa: AL05
    {% if is_incremental() %}
        -- newly landed rows, and the stored ones whose verdict they (or new customers) may change
        where {{ staging_rows_to_check(source('raw', 'support_tickets'), 'ticket_id', checks_customer=true) }}
    {% endif %}

),

checked as (

    select
        ticket_id,
        customer_id,
        channel,
        priority,
        status as ticket_status,
        subject,
        body,
        created_at,
        received_at,
        _source_file,
        _source_row,
        _loaded_at,
        {{ first_failing_check([
            ["ticket_id is null", "missing_key"],
            ["(channel is null or channel not in ('email', 'chat', 'phone')) or (priority is null or priority not in ('low', 'normal', 'high', 'urgent')) or (status is null or status not in ('open', 'pending', 'solved', 'closed'))", "invalid_value"],
            ["customer_id is not null and " ~ not_in_subquery("customer_id", valid_customer_ids, "customer_id", "source"), "unknown_customer"],
            [event_time_out_of_range("created_at"), "timestamp_out_of_range"],
        ]) }} as rejection_reason
    from source

),

deduplicated as (

    {{ mark_duplicate_keys('checked', 'ticket_id') }}

),

with_raw_records as (

    {{ staging_attach_raw_records('source', 'deduplicated') }}

)

select * from with_raw_records
