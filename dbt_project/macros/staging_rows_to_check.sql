{#-
    The raw rows an incremental run of a base_raw__* model checks again: a where-condition on the raw table
    (alias source_rows) for the model's source CTE.

    A raw row's verdict depends on other rows in two ways only, so these rows are enough to keep every stored
    verdict equal to what a full rebuild would give:
    - duplicate_key ranks all rows of a key: every row of a key that has a newly landed row is checked again
      (a late file may hold an earlier-received copy that wins);
    - unknown_customer depends on the valid customers, a set that only grows (raw is append-only): every key
      with a stored unknown_customer row whose customer is now valid is checked again, rows of the same key
      included, because the row it turns valid may win that key from another.
    Newly landed rows are those loaded after the latest _loaded_at stored (landing stamps each landing with
    one later time). Checks that read vars (journeys__min_event_time, journeys__max_future_skew_hours) are
    not re-applied to stored rows: changing those vars needs a --full-refresh.

    source_relation: the raw table (source('raw', ...)); key_column: its key;
    checks_customer: true when the model has the unknown_customer check.
-#}
{% macro staging_rows_to_check(source_relation, key_column, checks_customer=false) -%}
    {{ return(adapter.dispatch('staging_rows_to_check', 'journeys')(source_relation, key_column, checks_customer)) }}
{%- endmacro %}

{% macro default__staging_rows_to_check(source_relation, key_column, checks_customer) -%}
    {%- set stored_until -%}
        (select coalesce(max(stored_rows._loaded_at), cast('1900-01-01' as timestamp)) from {{ this }} as stored_rows)
    {%- endset -%}
    (
        source_rows._loaded_at > {{ stored_until }}
        or source_rows.{{ key_column }} in (
            select newly_landed_rows.{{ key_column }}
            from {{ source_relation }} as newly_landed_rows
            where newly_landed_rows._loaded_at > {{ stored_until }}
            {%- if checks_customer %}

            union all

            select customer_now_known_rows.{{ key_column }}
            from {{ this }} as customer_now_known_rows
            where
                customer_now_known_rows.rejection_reason = 'unknown_customer'
                and customer_now_known_rows.customer_id in (
                    select valid_customers.customer_id
                    from {{ ref('base_raw__customers') }} as valid_customers
                    where valid_customers.rejection_reason is null
                )
            {%- endif %}
        )
    )
{%- endmacro %}
