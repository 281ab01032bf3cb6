{#-
    Rows of a journey_config table as a list of mappings, read when dbt executes (empty while parsing).
    The engine's SQL is generated from these rows, so `dbt compile` shows each journey's conditions as SQL.
-#}
{% macro journey_config_rows(table_name, where='true') -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set relation = source('journey_config', table_name) -%}
    {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {#- Not loaded yet (a fresh warehouse being linted or compiled): no journeys. -#}
        {{ return([]) }}
    {%- endif -%}
    {%- set result = run_query('select * from ' ~ relation ~ ' where ' ~ where ~ ' order by all') -%}
    {%- set rows = [] -%}
    {%- for row in result.rows -%}
        {%- set mapping = {} -%}
        {%- for column in result.column_names -%}
            {%- do mapping.update({column: row[column]}) -%}
        {%- endfor -%}
        {%- do rows.append(mapping) -%}
    {%- endfor -%}
    {{ return(rows) }}
{%- endmacro %}
