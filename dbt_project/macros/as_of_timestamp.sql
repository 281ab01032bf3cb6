{#-
    The run's logical time as a UTC timestamp: the `as_of` var or JOURNEYS_AS_OF when given (Dagster sets the
    latter; macro run_setting), else now. Every model that needs "now" must use this, never current_timestamp
    directly, so that a run is reproducible for a given as_of.
-#}
{% macro as_of_timestamp() -%}
    {{ return(adapter.dispatch('as_of_timestamp', 'journeys')()) }}
{%- endmacro %}

{% macro default__as_of_timestamp() -%}
    {%- set as_of = run_setting('as_of', 'JOURNEYS_AS_OF') -%}
    {%- if as_of -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?', as_of | string) -%}
            {{ exceptions.raise_compiler_error(
                "as_of must be a UTC time in ISO 8601 without an offset, such as 2026-11-01T09:00:00; got '"
                ~ as_of ~ "' (from --vars as_of or the environment variable JOURNEYS_AS_OF)") }}
        {%- endif -%}
        cast('{{ as_of }}' as timestamp)
    {%- else -%}
        cast(current_timestamp as timestamp)
    {%- endif -%}
{%- endmacro %}
