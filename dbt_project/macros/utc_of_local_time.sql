{#-
    The naive UTC instant of a local wall-clock time: local date `local_date` plus `minutes` after local midnight,
    in the IANA time zone `time_zone`. In a repeated hour (DST fold) DuckDB's timezone() takes the later
    occurrence and moves a skipped time (DST gap) forward by the gap; Spark's to_utc_timestamp takes the earlier
    occurrence in a fold (the gap alike), so the two engines can differ by the fold's length for a local time
    inside a repeated hour (docs/scaling.md).
-#}
{% macro utc_of_local_time(local_date, minutes, time_zone) -%}
    {{ return(adapter.dispatch('utc_of_local_time', 'journeys')(local_date, minutes, time_zone)) }}
{%- endmacro %}

{% macro default__utc_of_local_time(local_date, minutes, time_zone) -%}
    timezone('UTC', timezone({{ time_zone }}, cast({{ local_date }} as timestamp) + to_minutes({{ minutes }})))
{%- endmacro %}

{% macro spark__utc_of_local_time(local_date, minutes, time_zone) -%}
    to_utc_timestamp(
        cast({{ local_date }} as timestamp) + make_dt_interval(0, 0, cast({{ minutes }} as int), 0), {{ time_zone }}
    )
{%- endmacro %}
