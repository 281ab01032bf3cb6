{#-
    A list of values from a var as the inside of a SQL IN (...): 'a', 'b' (quotes doubled), or null for an
    empty list (so `x in (null)` matches nothing).
-#}
{% macro measurement_sql_list(values) -%}
    {%- set quoted = [] -%}
    {%- for value in values -%}
        {%- do quoted.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ quoted | join(', ') if quoted else 'null' }}
{%- endmacro %}
