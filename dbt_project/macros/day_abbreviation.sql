{#- The lower-case English three-letter name of a date's weekday: mon, tue, wed, thu, fri, sat, sun. -#}
{% macro day_abbreviation(date) -%}
    {{ return(adapter.dispatch('day_abbreviation', 'journeys')(date)) }}
{%- endmacro %}

{% macro default__day_abbreviation(date) -%}
    lower(strftime({{ date }}, '%a'))
{%- endmacro %}

{% macro spark__day_abbreviation(date) -%}
    lower(date_format({{ date }}, 'EEE'))
{%- endmacro %}
