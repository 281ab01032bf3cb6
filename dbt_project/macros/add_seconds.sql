{#- A timestamp plus a whole number of seconds (negative: minus), the number a SQL expression. -#}
{% macro add_seconds(timestamp, seconds) -%}
    {{ return(adapter.dispatch('add_seconds', 'journeys')(timestamp, seconds)) }}
{%- endmacro %}

{% macro default__add_seconds(timestamp, seconds) -%}
    ({{ timestamp }} + to_seconds(cast({{ seconds }} as bigint)))
{%- endmacro %}

{% macro spark__add_seconds(timestamp, seconds) -%}
    ({{ timestamp }} + make_dt_interval(0, 0, 0, cast({{ seconds }} as bigint)))
{%- endmacro %}
