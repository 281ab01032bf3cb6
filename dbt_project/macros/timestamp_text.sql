{#- A timestamp as text, 2026-11-02T08:30:00.000000 (microseconds always written): the same text on DuckDB and Spark. -#}
{% macro timestamp_text(timestamp) -%}
    {{ return(adapter.dispatch('timestamp_text', 'journeys')(timestamp)) }}
{%- endmacro %}

{% macro default__timestamp_text(timestamp) -%}
    strftime({{ timestamp }}, '%Y-%m-%dT%H:%M:%S.%f')
{%- endmacro %}

{% macro spark__timestamp_text(timestamp) -%}
    date_format({{ timestamp }}, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")
{%- endmacro %}
