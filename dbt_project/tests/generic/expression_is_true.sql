{#- Fails with every row for which `expression` is not true. Usable on a model or a column (column_name unused). -#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
