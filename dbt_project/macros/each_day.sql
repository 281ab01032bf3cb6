{#-
    A select-list expression that turns each row of its relation into one row per date from `first_day` to
    `last_day` (both dates, inclusive): the dates as one column, named by the caller's alias.
-#}
{% macro each_day(first_day, last_day) -%}
    {{ return(adapter.dispatch('each_day', 'journeys')(first_day, last_day)) }}
{%- endmacro %}

{% macro default__each_day(first_day, last_day) -%}
    cast(unnest(generate_series(
        cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval 1 day
    )) as date)
{%- endmacro %}

{% macro spark__each_day(first_day, last_day) -%}
    explode(sequence(cast({{ first_day }} as date), cast({{ last_day }} as date), interval 1 day))
{%- endmacro %}
