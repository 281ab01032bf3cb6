{#-
    One setting of the run (as_of, run_id, the selected journeys), as text, or none when it is not set.

    A `--vars` value wins (a run by hand: `dbt build --vars '{as_of: ...}'`). Otherwise the value comes from the
    environment variable the orchestrator sets for each run (JOURNEYS_AS_OF, JOURNEYS_RUN_ID, JOURNEYS_SELECTED),
    read only while executing, never while parsing: dbt's partial parsing keys on the command line's vars and on
    the environment variables read during parsing, so a value that changes every run, passed either of those ways,
    would force a full re-parse of the project every run (docs/decisions/0015-run-settings-outside-the-parse.md).
-#}
{% macro run_setting(var_name, env_name) -%}
    {%- set from_vars = var(var_name, none) -%}
    {%- if from_vars is not none -%}
        {{ return(from_vars) }}
    {%- endif -%}
    {%- if execute -%}
        {%- set from_environment = env_var(env_name, '') -%}
        {{ return(from_environment if from_environment else none) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
