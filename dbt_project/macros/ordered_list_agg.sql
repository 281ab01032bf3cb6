{#-
    The values of `expression` as a list in the order of `order_by` (an aggregate; nulls kept), over the rows where
    `filter` holds (SQL condition; none: all rows).
-#}
{% macro ordered_list_agg(expression, order_by, filter=none) -%}
    {{ return(adapter.dispatch('ordered_list_agg', 'journeys')(expression, order_by, filter)) }}
{%- endmacro %}

{% macro default__ordered_list_agg(expression, order_by, filter) -%}
    list({{ expression }} order by {{ order_by }}){{ " filter (where " ~ filter ~ ")" if filter }}
{%- endmacro %}

{#- Spark: collect_list has no ORDER BY and skips nulls; a struct of (sort key, value) keeps both. -#}
{% macro spark__ordered_list_agg(expression, order_by, filter) -%}
    transform(
        array_sort(collect_list(struct({{ order_by }} as sort_key, {{ expression }} as value)){{ " filter (where " ~ filter ~ ")" if filter }}),
        element -> element.value
    )
{%- endmacro %}
