{#- Seconds since 1970-01-01 00:00:00 of a timestamp, as a double with its fraction. -#}
{% macro epoch_seconds(timestamp) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'journeys')(timestamp)) }}
{%- endmacro %}

{% macro default__epoch_seconds(timestamp) -%}
    epoch({{ timestamp }})
{%- endmacro %}

{% macro spark__epoch_seconds(timestamp) -%}
    (cast(unix_micros({{ timestamp }}) as double) / 1000000)
{%- endmacro %}
