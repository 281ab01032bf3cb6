{#-
    The values of `expression` joined by `separator` in the order of `order_by` (an aggregate; nulls skipped), over
    the rows where `filter` holds (SQL condition; none: all rows).
-#}
{% macro ordered_string_agg(expression, separator, order_by, filter=none) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'journeys')(expression, separator, order_by, filter)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expression, separator, order_by, filter) -%}
    string_agg({{ expression }}, '{{ separator }}' order by {{ order_by }}){{ " filter (where " ~ filter ~ ")" if filter }}
{%- endmacro %}

{#- Spark: string_agg takes no ORDER BY inside; the values are collected with their sort key and sorted. -#}
{% macro spark__ordered_string_agg(expression, separator, order_by, filter) -%}
    array_join(
        transform(
            array_sort(collect_list(struct({{ order_by }} as sort_key, {{ expression }} as value)){{ " filter (where " ~ filter ~ ")" if filter }}),
            element -> element.value
        ),
        '{{ separator }}'
    )
{%- endmacro %}
