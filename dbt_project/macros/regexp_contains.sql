{#-
    True when a regular expression matches part of a string (null when the string is null).

    expression: SQL for the string; pattern: the regular expression as text (not a SQL literal: quoting is
    done here), in the syntax both engines share (RE2 on DuckDB, java.util.regex on Spark: no backreferences,
    no lookaround); case_insensitive: match ignoring case.
-#}
{% macro regexp_contains(expression, pattern, case_insensitive=false) -%}
    {{ return(adapter.dispatch('regexp_contains', 'journeys')(expression, pattern, case_insensitive)) }}
{%- endmacro %}

{% macro default__regexp_contains(expression, pattern, case_insensitive) -%}
    regexp_matches({{ expression }}, '{{ pattern | replace("'", "''") }}'{{ ", 'i'" if case_insensitive }})
{%- endmacro %}

{#- Spark string literals treat the backslash as an escape character: it is doubled, as is a quote. -#}
{% macro spark__regexp_contains(expression, pattern, case_insensitive) -%}
    ({{ expression }} rlike '{{ "(?i)" if case_insensitive }}{{ pattern | replace("\\", "\\\\") | replace("'", "\\'") }}')
{%- endmacro %}
