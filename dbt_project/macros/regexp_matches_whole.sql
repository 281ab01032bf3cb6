{#-
    True when a regular expression matches the whole string (null when the string is null).

    expression: SQL for the string; pattern: the regular expression as text (quoting is done here), in the
    syntax both engines share (see regexp_contains).
-#}
{% macro regexp_matches_whole(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches_whole', 'journeys')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches_whole(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern | replace("'", "''") }}')
{%- endmacro %}

{% macro spark__regexp_matches_whole(expression, pattern) -%}
    ({{ expression }} rlike '^(?:{{ pattern | replace("\\", "\\\\") | replace("'", "\\'") }})$')
{%- endmacro %}
