{#-
    Adds raw_record, the whole raw row as JSON exactly as it landed, to the rows that failed a check (null on
    valid rows): rejected_rows shows it. Serialising only the rejected rows, found again by their lineage,
    spares the JSON of every valid raw row.

    source_cte: the raw rows as selected from the source, nothing added (to_json serialises all its columns)
    checked_cte: the same rows with rejection_reason and the lineage columns _source_file, _source_row
-#}
{% macro staging_attach_raw_records(source_cte, checked_cte) -%}
    {{ return(adapter.dispatch('staging_attach_raw_records', 'journeys')(source_cte, checked_cte)) }}
{%- endmacro %}

{% macro default__staging_attach_raw_records(source_cte, checked_cte) -%}
    select
        checked_rows.*,
        rejected_raw_records.raw_record
    from {{ checked_cte }} as checked_rows
    left join (
        select
            raw_rows._source_file,
            raw_rows._source_row,
            to_json(raw_rows) as raw_record
        from {{ source_cte }} as raw_rows
        inner join {{ checked_cte }} as rejected_rows
            on
                raw_rows._source_file = rejected_rows._source_file
                and raw_rows._source_row = rejected_rows._source_row
        where rejected_rows.rejection_reason is not null
    ) as rejected_raw_records
        on
            checked_rows._source_file = rejected_raw_records._source_file
            and checked_rows._source_row = rejected_raw_records._source_row
{%- endmacro %}

{#- Spark: to_json takes a struct, not a row alias; nulls are kept (as DuckDB does) and timestamps written as
    'yyyy-MM-dd HH:mm:ss.SSSSSS' (DuckDB leaves out a zero fraction: the JSON text differs, its values do not). -#}
{% macro spark__staging_attach_raw_records(source_cte, checked_cte) -%}
    select
        checked_rows.*,
        rejected_raw_records.raw_record
    from {{ checked_cte }} as checked_rows
    left join (
        select
            raw_rows._source_file,
            raw_rows._source_row,
            to_json(
                struct(raw_rows.*),
                map('ignoreNullFields', 'false', 'timestampFormat', 'yyyy-MM-dd HH:mm:ss.SSSSSS')
            ) as raw_record
        from {{ source_cte }} as raw_rows
        inner join {{ checked_cte }} as rejected_rows
            on
                raw_rows._source_file = rejected_rows._source_file
                and raw_rows._source_row = rejected_rows._source_row
        where rejected_rows.rejection_reason is not null
    ) as rejected_raw_records
        on
            checked_rows._source_file = rejected_raw_records._source_file
            and checked_rows._source_row = rejected_raw_records._source_row
{%- endmacro %}
