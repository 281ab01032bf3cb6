{#-
    A bound of the conversion window, as a timestamp expression: bound='start' gives the first instant counted,
    bound='end' the first instant no longer counted. The window is measurement__conversion_window_start_date to
    measurement__conversion_window_end_date (dates, both inclusive); a null start means the
    measurement__conversion_window_days before as_of, a null end means as_of (inclusive). Nothing after as_of
    counts either way.
-#}
{% macro measurement_conversion_window(bound) -%}
    {{ return(adapter.dispatch('measurement_conversion_window', 'journeys')(bound)) }}
{%- endmacro %}

{% macro default__measurement_conversion_window(bound) -%}
    {%- if bound == 'start' -%}
        {%- if var('measurement__conversion_window_start_date', none) -%}
            cast('{{ var("measurement__conversion_window_start_date") }}' as timestamp)
        {%- else -%}
            {{ dbt.dateadd('day', -1 * var('measurement__conversion_window_days', 90), as_of_timestamp()) }}
        {%- endif -%}
    {%- elif bound == 'end' -%}
        {%- if var('measurement__conversion_window_end_date', none) -%}
            least(
                {{ dbt.dateadd('day', 1, "cast('" ~ var('measurement__conversion_window_end_date') ~ "' as timestamp)") }},
                {{ dbt.dateadd('microsecond', 1, as_of_timestamp()) }}
            )
        {%- else -%}
            {{ dbt.dateadd('microsecond', 1, as_of_timestamp()) }}
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("measurement_conversion_window: bound must be 'start' or 'end', got " ~ bound) }}
    {%- endif -%}
{%- endmacro %}
