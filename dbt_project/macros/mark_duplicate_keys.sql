{#-
    Marks every row after the first of a key as 'duplicate_key', among rows that passed their other
    checks. "First" is the first received: received_at, then landing order (file, row), so the
    outcome is deterministic and does not change when later batches land.

    relation: a CTE or relation with a rejection_reason column (null = valid so far)
    key_column: the table's key
-#}
{% macro mark_duplicate_keys(relation, key_column) -%}
    {{ return(adapter.dispatch('mark_duplicate_keys', 'journeys')(relation, key_column)) }}
{%- endmacro %}

{% macro default__mark_duplicate_keys(relation, key_column) -%}
    select
        * exclude (rejection_reason),
        case
            when rejection_reason is not null then rejection_reason
            when row_number() over (
                partition by {{ key_column }}, rejection_reason is null
                order by received_at, _source_file, _source_row
            ) > 1 then 'duplicate_key'
        end as rejection_reason
    from {{ relation }}
{%- endmacro %}

{#- Spark: `* except (..)` is its spelling of DuckDB's `* exclude (..)`. -#}
{% macro spark__mark_duplicate_keys(relation, key_column) -%}
    select
        * except (rejection_reason),
        case
            when rejection_reason is not null then rejection_reason
            when row_number() over (
                partition by {{ key_column }}, rejection_reason is null
                order by received_at, _source_file, _source_row
            ) > 1 then 'duplicate_key'
        end as rejection_reason
    from {{ relation }}
{%- endmacro %}
