{#-
    One row per input row and column of `columns`: the other columns of `relation`, `name_column` (the column's
    name) and `value_column` (its value); rows whose value is null are left out. A whole select statement.
-#}
{% macro unpivot_columns(relation, columns, name_column, value_column) -%}
    {{ return(adapter.dispatch('unpivot_columns', 'journeys')(relation, columns, name_column, value_column)) }}
{%- endmacro %}

{% macro default__unpivot_columns(relation, columns, name_column, value_column) -%}
    unpivot {{ relation }}
    on {{ columns | join(', ') }}
    into name {{ name_column }} value {{ value_column }}
{%- endmacro %}

{% macro spark__unpivot_columns(relation, columns, name_column, value_column) -%}
    select *
    from {{ relation }}
    unpivot ({{ value_column }} for {{ name_column }} in ({{ columns | join(', ') }}))
{%- endmacro %}
