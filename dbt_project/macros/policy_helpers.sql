{#-
    Local-time helpers for delivery policy (docs/policy.md). Timestamps are naive UTC; `time_zone` is an IANA
    name. A local wall-clock time maps back to UTC with macro utc_of_local_time (its DST rules), as the journey
    engine does.
-#}

{#- The naive local time of a UTC instant. -#}
{% macro policy_local_time(at, time_zone) -%}
    {{ local_time_of_utc(at, time_zone) }}
{%- endmacro %}

{#- The UTC instant of a local date plus minutes after local midnight. -#}
{% macro policy_utc_of_local(local_date, minutes, time_zone) -%}
    {{ utc_of_local_time(local_date, minutes, time_zone) }}
{%- endmacro %}

{#-
    When quiet hours [start_minute, end_minute) (local; start > end crosses midnight) that contain `at` end, as a
    UTC instant; null when `at` is not inside them (or the channel has none: start_minute null).
-#}
{% macro policy_quiet_hours_end(at, time_zone, start_minute, end_minute) -%}
    {%- set local = policy_local_time(at, time_zone) -%}
    {%- set minute = "(extract(hour from " ~ local ~ ") * 60 + extract(minute from " ~ local ~ "))" -%}
    case
        when {{ start_minute }} is null then null
        when {{ start_minute }} > {{ end_minute }} and {{ minute }} >= {{ start_minute }}
            then {{ policy_utc_of_local('cast(' ~ local ~ ' as date) + 1', end_minute, time_zone) }}
        when {{ start_minute }} > {{ end_minute }} and {{ minute }} < {{ end_minute }}
            then {{ policy_utc_of_local('cast(' ~ local ~ ' as date)', end_minute, time_zone) }}
        when {{ start_minute }} <= {{ minute }} and {{ minute }} < {{ end_minute }}
            then {{ policy_utc_of_local('cast(' ~ local ~ ' as date)', end_minute, time_zone) }}
    end
{%- endmacro %}

{#- The first instant >= `at` whose local time is `hour`:00 (send-time optimisation). -#}
{% macro policy_next_local_hour(at, time_zone, hour) -%}
    {%- set local_date = 'cast(' ~ policy_local_time(at, time_zone) ~ ' as date)' -%}
    {%- set minutes = 'cast(' ~ hour ~ ' as integer) * 60' -%}
    case
        when {{ policy_utc_of_local(local_date, minutes, time_zone) }} >= {{ at }}
            then {{ policy_utc_of_local(local_date, minutes, time_zone) }}
        else {{ policy_utc_of_local(local_date ~ ' + 1', minutes, time_zone) }}
    end
{%- endmacro %}

{#- "HH:MM" as minutes after midnight, at compile time. -#}
{% macro policy_clock_minutes(clock) -%}
    {%- set parts = clock.split(':') -%}
    {{ parts[0] | int * 60 + parts[1] | int }}
{%- endmacro %}

{#- Whether a frequency cap (a policy__frequency_caps entry) counts a message on `channel` for `purpose`. -#}
{% macro policy_cap_applies(cap, channel, purpose) -%}
    {{ channel }} in ({% for c in cap.channels %}'{{ c }}'{{ ', ' if not loop.last }}{% endfor %})
    and {{ purpose }} in ({% for p in cap.purposes %}'{{ p }}'{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#-
    Frequency caps in the policy_decisions walk. Each cap of policy__frequency_caps gets columns
    counts_for_<name> (the action counts for it), used_<name> (slots taken in the window) and oldest_<name>
    (the oldest release counted). These macros write one expression per cap.
-#}

{#- used_<name>, oldest_<name>: releases in `released` (columns channel, purpose, released_at) inside each window. -#}
{% macro policy_caps_used_in_window(caps, released, as_of) -%}
    {%- for cap in caps %}
        count(*) filter (
            where {{ policy_cap_applies(cap, released ~ '.channel', released ~ '.purpose') }}
            and {{ released }}.released_at > {{ as_of }} - to_hours({{ cap.window_hours }})
        ) as used_{{ cap.name }},
        min({{ released }}.released_at) filter (
            where {{ policy_cap_applies(cap, released ~ '.channel', released ~ '.purpose') }}
            and {{ released }}.released_at > {{ as_of }} - to_hours({{ cap.window_hours }})
        ) as oldest_{{ cap.name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The slots already used when the walk starts (0 without earlier releases). -#}
{% macro policy_caps_initial_use(caps, released) -%}
    {%- for cap in caps %}
        coalesce({{ released }}.used_{{ cap.name }}, 0) as used_{{ cap.name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The action fits when every cap it counts for still has a slot. -#}
{% macro policy_caps_fit(caps, action, used) -%}
    ({% for cap in caps -%}
        (not {{ action }}.counts_for_{{ cap.name }} or {{ used }}.used_{{ cap.name }} < {{ cap.max }})
        {{- ' and ' if not loop.last }}
    {%- endfor %})
{%- endmacro %}

{#- After the action: a slot more in each cap it counts for, if it fits. -#}
{% macro policy_caps_take_slots(caps, action, used) -%}
    {%- for cap in caps %}
        {{ used }}.used_{{ cap.name }} + case
            when {{ action }}.counts_for_{{ cap.name }} and {{ policy_caps_fit(caps, action, used) }} then 1 else 0
        end as used_{{ cap.name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- When a capped action may go: once the oldest release counted in every cap that bound it leaves the window. -#}
{% macro policy_caps_free_at(caps, action, used, released, as_of) -%}
    greatest(
        {%- for cap in caps %}
            case
                when {{ action }}.counts_for_{{ cap.name }} and {{ used }}.used_{{ cap.name }} >= {{ cap.max }}
                    then coalesce({{ released }}.oldest_{{ cap.name }}, {{ as_of }}) + to_hours({{ cap.window_hours }})
            end{{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- The caps that bound the action, in words. -#}
{% macro policy_caps_binding(caps, action, used) -%}
    concat_ws(', '
        {%- for cap in caps %},
            case
                when {{ action }}.counts_for_{{ cap.name }} and {{ used }}.used_{{ cap.name }} >= {{ cap.max }}
                    then '{{ cap.name }} ({{ cap.max }} per {{ cap.window_hours }}h)'
            end
        {%- endfor %}
    )
{%- endmacro %}

{#- counts_for_<name>: whether the message counts for each cap. -#}
{% macro policy_caps_counts_for(caps, kind, channel, purpose) -%}
    {%- for cap in caps %}
        {{ kind }} = 'message' and {{ policy_cap_applies(cap, channel, purpose) }}
        as counts_for_{{ cap.name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#-
    The personalisation fields an action node lists, as a JSON object: each name is a customer attribute
    (alias `customers`), else a field of the event that started the enrollment (alias `entry_events`), else null.
    field_lists: the distinct action_fields values (JSON lists) of the loaded journeys; `actions.action_fields`
    picks the one of each action.
-#}
{% macro policy_payload_fields(field_lists, customer_columns, event_columns) -%}
    {%- if not field_lists -%}
        json_object()
    {%- else -%}
        case
            {%- for field_list in field_lists %}
                when actions.action_fields = '{{ field_list }}' then json_object(
                    {%- for name in fromjson(field_list) %}
                        '{{ name }}',
                        {% if name in customer_columns -%}
                            customers.{{ adapter.quote(name) }}
                        {%- elif name in event_columns -%}
                            entry_events.{{ adapter.quote(name) }}
                        {%- else -%}
                            null
                        {%- endif %}{{ ',' if not loop.last }}
                    {%- endfor %}
                )
            {%- endfor %}
            else json_object()
        end
    {%- endif -%}
{%- endmacro %}
