{#-
    The configured cost of one sent message on a channel (var measurement__message_cost, a mapping channel ->
    cost per message in the reporting currency, USD). An assumption set by the operator, not a price list: see
    docs/measurement.md, "Journey analytics". Every message channel must be priced; a missing channel or a
    negative or non-numeric cost stops compilation with a message saying which.
-#}
{% macro measurement_message_cost(channel_sql) -%}
    {%- set costs = var('measurement__message_cost') -%}
    {%- if costs is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var measurement__message_cost: expected a mapping channel -> cost per message, got " ~ costs) }}
    {%- endif -%}
    {%- for channel in ['email', 'sms', 'push', 'in_app', 'webhook'] -%}
        {%- if channel not in costs -%}
            {{ exceptions.raise_compiler_error(
                "var measurement__message_cost: channel '" ~ channel ~ "' has no cost (expected a number >= 0)") }}
        {%- endif -%}
        {%- if costs[channel] is not number or costs[channel] < 0 -%}
            {{ exceptions.raise_compiler_error(
                "var measurement__message_cost: channel '" ~ channel ~ "' costs " ~ costs[channel]
                ~ " (expected a number >= 0)") }}
        {%- endif -%}
    {%- endfor -%}
    case {{ channel_sql }}
        {%- for channel, cost in costs.items() %}
            when '{{ channel }}' then cast({{ cost }} as double)
        {%- endfor %}
    end
{%- endmacro %}
