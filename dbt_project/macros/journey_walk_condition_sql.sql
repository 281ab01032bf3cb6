{#-
    A split-branch condition in the journey walk (journey_transitions), for the walk's row `walk` at its step time.
    Attribute conditions read the joined customers row (macro journey_condition_sql); has_event, in_segment and
    not_in_segment read the condition's own lookup join, condition_facts_<n> (n: the condition's position in
    `lookup_conditions`, from 1), the latest fact of int_journey_condition_facts that started by then.
-#}
{% macro journey_walk_condition_sql(condition, lookup_conditions) -%}
    {%- if condition['kind'] not in ('has_event', 'in_segment', 'not_in_segment') -%}
        {{ journey_condition_sql(condition, 'customers', 'walk.customer_id', 'walk.step_at') }}
    {%- else -%}
        {%- set fact = 'condition_facts_' ~ (lookup_conditions.index(condition) + 1) -%}
        {%- if condition['kind'] == 'has_event' -%}
            coalesce({{ fact }}.starts_at > {{ add_seconds('walk.step_at', '-' ~ condition['within_seconds']) }}, false)
        {%- else -%}
            {{ 'not ' if condition['kind'] == 'not_in_segment' }}coalesce(
                {{ fact }}.customer_id is not null
                and ({{ fact }}.ends_at is null or {{ fact }}.ends_at > walk.step_at), false)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
