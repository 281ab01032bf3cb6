{#-
    SQL for one journey condition row (see docs/journey_semantics.md, "Conditions").

    condition: a mapping with kind, name, op, value_json, within_seconds (a row of journey_config.journey_conditions)
    subject: alias of the relation holding the event fields (kind = field) or customer attributes (kind = attribute)
    customer_id, at: SQL expressions for the customer and the evaluation time (kinds has_event, in_segment,
        not_in_segment; a segment membership holds at t when entered_at <= t < exited_at, exited_at null while open)
    A condition on a null value is false, except is_null: every comparison is wrapped in coalesce(..., false).
-#}
{% macro journey_condition_sql(condition, subject, customer_id, at) -%}
    {%- set kind = condition['kind'] -%}
    {%- set op = condition['op'] -%}
    {%- if kind in ('field', 'attribute') -%}
        {%- set column = subject ~ '.' ~ adapter.quote(condition['name']) -%}
        {%- set value = fromjson(condition['value_json']) if condition['value_json'] else none -%}
        {%- if op == 'is_null' -%}
            ({{ column }} is null)
        {%- elif op == 'not_null' -%}
            ({{ column }} is not null)
        {%- elif op in ('in', 'not_in') -%}
            coalesce({{ column }} {{ 'not in' if op == 'not_in' else 'in' }} (
                {%- for item in value %}{{ journey_sql_literal(item) }}{{ ', ' if not loop.last }}{% endfor -%}
            ), false)
        {%- else -%}
            coalesce({{ column }} {{ '<>' if op == '!=' else op }} {{ journey_sql_literal(value) }}, false)
        {%- endif -%}
    {%- elif kind == 'has_event' -%}
        exists (
            select 1 from {{ ref('int_journey_events') }} as condition_events
            where condition_events.customer_id = {{ customer_id }}
                and condition_events.event_name = {{ journey_sql_literal(condition['name']) }}
                and condition_events.occurred_at <= {{ at }}
                and condition_events.occurred_at > {{ at }} - to_seconds({{ condition['within_seconds'] }})
        )
    {%- elif kind in ('in_segment', 'not_in_segment') -%}
        {{ 'not ' if kind == 'not_in_segment' }}exists (
            select 1 from {{ ref('segment_memberships') }} as condition_memberships
            where condition_memberships.customer_id = {{ customer_id }}
                and condition_memberships.segment_name = {{ journey_sql_literal(condition['name']) }}
                and condition_memberships.entered_at <= {{ at }}
                and (condition_memberships.exited_at is null or condition_memberships.exited_at > {{ at }})
        )
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "journey condition kind '" ~ kind ~ "' is not supported by the warehouse engine yet") }}
    {%- endif -%}
{%- endmacro %}

{#- A Python/JSON scalar as a SQL literal. -#}
{% macro journey_sql_literal(value) -%}
    {%- if value is none -%}null
    {%- elif value is sameas true -%}true
    {%- elif value is sameas false -%}false
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}
