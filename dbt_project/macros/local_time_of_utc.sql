{#-
    The naive local wall-clock time, in the IANA time zone `time_zone`, of `at`, a naive UTC timestamp.
    Daylight-saving changes are honoured per instant (a UTC instant has exactly one local time).
-#}
{% macro local_time_of_utc(at, time_zone) -%}
    {{ return(adapter.dispatch('local_time_of_utc', 'journeys')(at, time_zone)) }}
{%- endmacro %}

{% macro default__local_time_of_utc(at, time_zone) -%}
    timezone({{ time_zone }}, timezone('UTC', {{ at }}))
{%- endmacro %}

{#- Spark has no timezone(); from_utc_timestamp reads `at` as UTC and returns the wall-clock time in the zone. -#}
{% macro spark__local_time_of_utc(at, time_zone) -%}
    from_utc_timestamp({{ at }}, {{ time_zone }})
{%- endmacro %}
