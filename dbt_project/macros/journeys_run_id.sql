{#-
    The orchestrator run that decides (recorded on decisions as decided_in_run): the `run_id` var or
    JOURNEYS_RUN_ID (Dagster sets it; macro run_setting), else 'manual'. Rendered as a SQL string literal.
-#}
{% macro journeys_run_id() -%}
    {%- set run_id = run_setting('run_id', 'JOURNEYS_RUN_ID') or 'manual' -%}
    '{{ run_id | string | replace("'", "''") }}'
{%- endmacro %}
