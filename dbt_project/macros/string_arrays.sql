{#-
    Lists of strings in SQL that DuckDB and Spark both run: an empty list, a list with one more value, whether a
    list holds a value, and the non-null values of a column gathered into a list (an aggregate or a window). The
    list's type is type_string_array().
-#}
{% macro empty_string_array() -%}
    {{ return(adapter.dispatch('empty_string_array', 'journeys')()) }}
{%- endmacro %}

{% macro default__empty_string_array() -%}
    cast([] as {{ type_string_array() }})
{%- endmacro %}

{% macro spark__empty_string_array() -%}
    cast(array() as {{ type_string_array() }})
{%- endmacro %}

{% macro string_array_append(array, value) -%}
    {{ return(adapter.dispatch('string_array_append', 'journeys')(array, value)) }}
{%- endmacro %}

{% macro default__string_array_append(array, value) -%}
    list_append({{ array }}, {{ value }})
{%- endmacro %}

{#- Spark: concat of a null array is null; DuckDB's list_append of a null list is the one-value list. -#}
{% macro spark__string_array_append(array, value) -%}
    concat(coalesce({{ array }}, {{ spark__empty_string_array() }}), array({{ value }}))
{%- endmacro %}

{#- Null when the list is null or the value is null (both engines). -#}
{% macro string_array_contains(array, value) -%}
    {{ return(adapter.dispatch('string_array_contains', 'journeys')(array, value)) }}
{%- endmacro %}

{% macro default__string_array_contains(array, value) -%}
    list_contains({{ array }}, {{ value }})
{%- endmacro %}

{% macro spark__string_array_contains(array, value) -%}
    array_contains({{ array }}, {{ value }})
{%- endmacro %}

{% macro string_array_agg_non_null(expression) -%}
    {{ return(adapter.dispatch('string_array_agg_non_null', 'journeys')(expression)) }}
{%- endmacro %}

{% macro default__string_array_agg_non_null(expression) -%}
    list({{ expression }}) filter (where {{ expression }} is not null)
{%- endmacro %}

{#- Spark: collect_list skips nulls. -#}
{% macro spark__string_array_agg_non_null(expression) -%}
    collect_list({{ expression }})
{%- endmacro %}
