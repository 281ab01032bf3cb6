{#-
    The journey ids a run decides for, as a list, or none for all journeys: the `journeys__selected` var (a list)
    or JOURNEYS_SELECTED (comma-separated ids; Dagster sets it from the run's `journeys` setting; macro
    run_setting).
-#}
{% macro journeys_selected() -%}
    {%- set selected = run_setting('journeys__selected', 'JOURNEYS_SELECTED') -%}
    {%- if selected is none or selected is sequence and selected is not string -%}
        {{ return(selected or none) }}
    {%- endif -%}
    {%- set ids = [] -%}
    {%- for journey_id in (selected | string).split(',') if journey_id.strip() -%}
        {%- do ids.append(journey_id.strip()) -%}
    {%- endfor -%}
    {{ return(ids or none) }}
{%- endmacro %}
