{#-
    The run's logical time as a UTC timestamp: the `as_of` var when given (Dagster passes it), else now.
    Every model that needs "now" must use this, never current_timestamp directly, so that a run is
    reproducible for a given as_of.
-#}
{% macro as_of_timestamp() -%}
    {{ return(adapter.dispatch('as_of_timestamp', 'journeys')()) }}
{%- endmacro %}

{% macro default__as_of_timestamp() -%}
    {%- if var('as_of') -%}
        cast('{{ var("as_of") }}' as timestamp)
    {%- else -%}
        cast(current_timestamp as timestamp)
    {%- endif -%}
{%- endmacro %}
