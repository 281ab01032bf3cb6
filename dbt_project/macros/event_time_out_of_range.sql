{#-
    True when an event time cannot be right: before journeys__min_event_time, or later than the moment the
    row reached us (received_at, else the load time) plus the tolerated clock skew
    (journeys__max_future_skew_hours). Comparing with received_at, not with today, keeps the verdict on a row
    the same whenever it is evaluated.
-#}
{% macro event_time_out_of_range(column) -%}
    ({{ column }} < cast('{{ var("journeys__min_event_time") }}' as timestamp)
        or {{ column }} > coalesce(received_at, _loaded_at) + interval '{{ var("journeys__max_future_skew_hours") }} hours')
{%- endmacro %}
