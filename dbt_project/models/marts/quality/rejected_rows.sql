{#-
    Raw rows that failed validation, kept aside with the reason, one row per rejected raw row.
    Rebuilt every run from the base models, so a row rejected only because its customer had not
    arrived yet (unknown_customer) leaves this table once the customer lands.
-#}
{%- set raw_tables = {
    'customers': 'customer_id',
    'consent_events': 'consent_event_id',
    'identifies': 'identify_id',
    'sessions': 'session_id',
    'events': 'event_id',
    'orders': 'order_id',
    'order_items': 'order_item_id',
    'products': 'product_id',
    'subscriptions': 'subscription_id',
    'support_tickets': 'ticket_id',
    'message_engagement': 'message_event_id',
    'erasure_requests': 'request_id',
} -%}

with

{% for table, key in raw_tables.items() %}
    rejected_{{ table }} as (

        select
            '{{ table }}' as source_table,
            cast({{ key }} as {{ dbt.type_string() }}) as record_key,
            rejection_reason,
            _source_file as source_file,
            _source_row as source_row,
            raw_record,
            _loaded_at as loaded_at
        from {{ ref('base_raw__' ~ table) }}
        where rejection_reason is not null

    ),

{% endfor %}
unioned as (

    {% for table in raw_tables %}
        select * from rejected_{{ table }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
