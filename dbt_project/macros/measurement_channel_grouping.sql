{#-
    The channel of a session from its marketing parameters: the first rule of `rules` (default: the var
    measurement__channel_rules) whose conditions all hold; 'unclassified' when none does (end the rules with a
    rule without conditions to avoid it). Compiled into one CASE expression, so grouping costs nothing per row.

    A rule is a mapping with `channel` and any of these conditions (all must hold; null values count as ''):
    - medium_in, source_in, campaign_in: a list of values, compared case-insensitively;
    - medium_matches, source_matches, campaign_matches, referrer_matches: a regular expression that must match
      part of the value, case-insensitively; campaign_not_matches: one that must not match;
    - has_medium, has_referrer: true (the value is set and not empty) or false.
    An unknown condition, or a rule without a channel, stops compilation with an error naming the rule.
-#}
{% macro measurement_channel_grouping(source, medium, campaign, referrer, rules=none) -%}
    {{ return(adapter.dispatch('measurement_channel_grouping', 'journeys')(source, medium, campaign, referrer, rules)) }}
{%- endmacro %}

{% macro default__measurement_channel_grouping(source, medium, campaign, referrer, rules=none) -%}
    {%- set rules = rules if rules is not none else var('measurement__channel_rules') -%}
    {%- set columns = {'source': source, 'medium': medium, 'campaign': campaign, 'referrer': referrer} -%}
    {%- set known = [
        'channel', 'medium_in', 'source_in', 'campaign_in', 'medium_matches', 'source_matches',
        'campaign_matches', 'referrer_matches', 'campaign_not_matches', 'has_medium', 'has_referrer'
    ] -%}
    case
    {%- for rule in rules %}
        {%- set rule_number = loop.index -%}
        {%- if rule is not mapping or not rule.get('channel') -%}
            {{ exceptions.raise_compiler_error(
                "measurement__channel_rules: rule " ~ rule_number ~ " (" ~ rule ~ ") has no channel") }}
        {%- endif -%}
        {%- for key in rule if key not in known -%}
            {{ exceptions.raise_compiler_error(
                "measurement__channel_rules: rule " ~ rule_number ~ " (channel " ~ rule['channel']
                ~ ") has an unknown condition '" ~ key ~ "'; expected one of " ~ known | join(', ')) }}
        {%- endfor -%}
        {%- set conditions = [] -%}
        {%- for name in ['medium', 'source', 'campaign'] if rule.get(name ~ '_in') is not none -%}
            {%- set values = [] -%}
            {%- for value in rule[name ~ '_in'] -%}
                {%- do values.append("'" ~ (value | string | lower | replace("'", "''")) ~ "'") -%}
            {%- endfor -%}
            {%- do conditions.append("lower(coalesce(" ~ columns[name] ~ ", '')) in (" ~ values | join(', ') ~ ")") -%}
        {%- endfor -%}
        {%- for name in ['medium', 'source', 'campaign', 'referrer'] if rule.get(name ~ '_matches') is not none -%}
            {%- do conditions.append(regexp_contains(
                "coalesce(" ~ columns[name] ~ ", '')", rule[name ~ '_matches'] | string, case_insensitive=true)) -%}
        {%- endfor -%}
        {%- if rule.get('campaign_not_matches') is not none -%}
            {%- do conditions.append("not " ~ regexp_contains(
                "coalesce(" ~ campaign ~ ", '')", rule['campaign_not_matches'] | string, case_insensitive=true)) -%}
        {%- endif -%}
        {%- for name in ['medium', 'referrer'] if rule.get('has_' ~ name) is not none -%}
            {%- do conditions.append(("" if rule['has_' ~ name] else "not ") ~ "(coalesce(" ~ columns[name] ~ ", '') <> '')") -%}
        {%- endfor %}
        when {{ conditions | join(' and ') if conditions else 'true' }} then '{{ rule["channel"] | replace("'", "''") }}'
    {%- endfor %}
        else 'unclassified'
    end
{%- endmacro %}
