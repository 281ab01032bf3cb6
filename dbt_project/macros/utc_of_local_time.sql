{#-
    The naive UTC instant of a local wall-clock time: local date `local_date` plus `minutes` after local midnight,
    in the IANA time zone `time_zone`. In a repeated hour (DST fold) the later occurrence; a skipped time (DST
    gap) moves forward by the gap: DuckDB's timezone() rules. Spark's to_utc_timestamp takes the earlier
    occurrence in a fold, so its implementation moves to the later one when the instant an hour on shows the same
    local time (folds of one hour; a zone with a shorter fold, such as Australia/Lord_Howe, keeps the earlier).
    Checked on 2026-12-03 with pyspark 4.3.0 against DuckDB on 140 local times around DST changes in four zones.
-#}
{% macro utc_of_local_time(local_date, minutes, time_zone) -%}
    {{ return(adapter.dispatch('utc_of_local_time', 'journeys')(local_date, minutes, time_zone)) }}
{%- endmacro %}

{% macro default__utc_of_local_time(local_date, minutes, time_zone) -%}
    timezone('UTC', timezone({{ time_zone }}, cast({{ local_date }} as timestamp) + to_minutes({{ minutes }})))
{%- endmacro %}

{% macro spark__utc_of_local_time(local_date, minutes, time_zone) -%}
    {%- set local = "(cast(" ~ local_date ~ " as timestamp) + make_dt_interval(0, 0, cast(" ~ minutes ~ " as int), 0))" -%}
    {%- set earlier = "to_utc_timestamp(" ~ local ~ ", " ~ time_zone ~ ")" -%}
    case
        when from_utc_timestamp({{ earlier }} + interval 1 hour, {{ time_zone }}) = {{ local }}
            then {{ earlier }} + interval 1 hour
        else {{ earlier }}
    end
{%- endmacro %}
