{#- The type of a list of strings: varchar[] on DuckDB, array<string> on Spark. -#}
{% macro type_string_array() -%}
    {{ return(adapter.dispatch('type_string_array', 'journeys')()) }}
{%- endmacro %}

{% macro default__type_string_array() -%}
    varchar[]
{%- endmacro %}

{% macro spark__type_string_array() -%}
    array<string>
{%- endmacro %}
