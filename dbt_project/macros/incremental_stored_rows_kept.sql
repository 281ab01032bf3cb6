{#-
    What an incremental model's select adds so that its adapter's strategy keeps the stored rows it does not
    replace. With delete+insert (DuckDB) the table keeps them itself: nothing is added. With insert_overwrite of
    partitions (Spark, parquet: no delete) every partition the select writes is replaced whole, so the select
    returns, after its own rows, every stored row whose key it does not replace (`union all`).

    unique_key: the key column; new_rows: the CTE of the rows the run writes; columns: the model's columns in
    its select's order (the stored table's order can differ: Spark puts partition columns last).
-#}
{% macro incremental_stored_rows_kept(unique_key, new_rows, columns) -%}
    {{ return(adapter.dispatch('incremental_stored_rows_kept', 'journeys')(unique_key, new_rows, columns)) }}
{%- endmacro %}

{% macro default__incremental_stored_rows_kept(unique_key, new_rows, columns) -%}
{%- endmacro %}

{% macro spark__incremental_stored_rows_kept(unique_key, new_rows, columns) -%}
    {%- if is_incremental() %}
        union all

        select
            {%- for column in columns %}
            stored_rows.{{ column }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ this }} as stored_rows
        where stored_rows.{{ unique_key }} not in (select replaced_rows.{{ unique_key }} from {{ new_rows }} as replaced_rows)
    {%- endif %}
{%- endmacro %}
