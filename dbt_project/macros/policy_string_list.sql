{#-
    A list of strings as a SQL list of literals: ['a', "o'b"] -> 'a', 'o''b'. Used to restrict a run to the
    journeys a marketer selected (var journeys__selected).
-#}
{% macro policy_string_list(values) -%}
    {%- for value in values -%}
        '{{ value | string | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
