{#-
    When a delay "until the next allowed local time window" releases an enrollment that arrived at `at`:
    the first instant >= at inside the window, in the customer's time zone (docs/journey_semantics.md).
    Each allowed local day's window becomes a UTC interval (DuckDB's timezone(): a repeated wall-clock time
    means its later occurrence, a skipped one moves forward by the gap); the earliest interval that ends after
    `at` wins. A scalar subquery over the next 9 local days (a window repeats at least weekly).
-#}
{% macro journey_window_moves_at(at, time_zone, window_days, start_minute, end_minute) -%}
    (
        select min(greatest({{ at }}, local_windows.window_start))
        from (
            select
                timezone('UTC', timezone(
                    {{ time_zone }}, cast(local_days.local_day as timestamp) + to_minutes({{ start_minute }})
                )) as window_start,
                timezone('UTC', timezone(
                    {{ time_zone }}, cast(local_days.local_day as timestamp) + to_minutes({{ end_minute }})
                )) as window_end
            from (
                select
                    cast(timezone({{ time_zone }}, timezone('UTC', {{ at }})) as date)
                    + cast(day_offsets.day_offset as integer) as local_day
                from range(0, 9) as day_offsets (day_offset)
            ) as local_days
            where list_contains(string_split({{ window_days }}, ','), lower(strftime(local_days.local_day, '%a')))
        ) as local_windows
        where local_windows.window_end > {{ at }}
    )
{%- endmacro %}
