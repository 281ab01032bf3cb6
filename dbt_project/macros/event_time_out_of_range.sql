{#-
    True when an event time cannot be right: before journeys__min_event_time, or later than the moment
    the row was loaded plus the tolerated clock skew (journeys__max_future_skew_hours).
-#}
{% macro event_time_out_of_range(column) -%}
    ({{ column }} < cast('{{ var("journeys__min_event_time") }}' as timestamp)
        or {{ column }} > _loaded_at + interval '{{ var("journeys__max_future_skew_hours") }} hours')
{%- endmacro %}
