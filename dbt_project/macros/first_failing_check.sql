{#-
    Returns a CASE expression naming the first check a row fails, or null when it passes all.

    checks: list of [sql_condition, reason] pairs, evaluated in order. Order matters: a row is kept
    aside under exactly one reason, the first that applies, so put the most basic checks first
    (missing key before invalid value, and so on).
-#}
{% macro first_failing_check(checks) -%}
    {{ return(adapter.dispatch('first_failing_check', 'journeys')(checks)) }}
{%- endmacro %}

{% macro default__first_failing_check(checks) -%}
    case
        {%- for condition, reason in checks %}
        when {{ condition }} then '{{ reason }}'
        {%- endfor %}
    end
{%- endmacro %}
