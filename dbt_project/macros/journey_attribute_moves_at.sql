{#-
    When a delay "until a date attribute +/- offset" releases an enrollment that arrived at `at`: local
    midnight (customer's time zone) of the attribute's date plus the offset, or `at` when that is earlier or
    the attribute is null. A timestamp attribute counts by its local date. Portable: macros local_time_of_utc,
    utc_of_local_time and add_seconds (DuckDB and Spark implementations).

    attribute_nodes: journey_config.journey_nodes rows with delay_kind = 'attribute' (one CASE branch each)
    customer_columns: mapping column name -> data type of the customers relation
-#}
{% macro journey_attribute_moves_at(at, time_zone, attribute_nodes, customer_columns, customers='customers', nodes='journey_nodes') -%}
    {%- if not attribute_nodes -%}
        {{ at }}
    {%- else -%}
    {%- set local_date -%}
        case
            {%- for node in attribute_nodes %}
                {%- set column = customers ~ '.' ~ adapter.quote(node['until_attribute']) %}
                when {{ nodes }}.journey_id = '{{ node["journey_id"] }}' and {{ nodes }}.node_id = '{{ node["node_id"] }}'
                    then {{ column if 'timestamp' not in customer_columns.get(node['until_attribute'], '')
                        else "cast(" ~ local_time_of_utc(column, time_zone) ~ " as date)" }}
            {%- endfor %}
        end
    {%- endset %}
    greatest({{ at }}, coalesce(
        {{ add_seconds(utc_of_local_time(local_date, '0', time_zone), nodes ~ '.until_offset_seconds') }},
        {{ at }}
    ))
    {%- endif -%}
{%- endmacro %}

{#- Column name -> lower-case data type of a relation, read when dbt executes (empty while parsing). -#}
{% macro journey_relation_columns(relation) -%}
    {%- set columns = {} -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do columns.update({column.name: column.data_type | lower}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}
