{#-
    Segment membership over time. Grain: one row per (segment_name, customer_id, entered_at).

    Membership is evaluated per run: each run reads the current members of every segment definition (as of the
    run's as_of) and compares them with the open memberships (exited_at is null). A customer who is a member and
    has no open membership gets a new row with entered_at = as_of; an open membership whose customer is no longer
    a member (or whose segment definition was removed) gets exited_at = as_of. entered_at and exited_at are
    therefore run times (as_of), not event times: "was X in S at t" is answered at the resolution of the runs.

    Idempotent: a re-run at the same as_of finds nothing to change. A run whose as_of is not after the last
    as_of recorded changes nothing either (history only moves forward). Closed rows are never rewritten: a run
    writes only new rows and the open rows it closes (delete+insert on membership_id).
-#}
{#- Spark: insert_overwrite of the segment_name partitions (parquet tables cannot delete rows): the select adds
    the stored rows it does not replace (macro incremental_stored_rows_kept), so each run rewrites the history
    whole there, at a cost proportional to the history, not to the changes. -#}
{{
    config(
        materialized='incremental',
        unique_key='membership_id',
        incremental_strategy='insert_overwrite' if target.type == 'spark' else 'delete+insert',
        partition_by=['segment_name'] if target.type == 'spark' else none,
        on_schema_change='fail',
    )
}}
{#- A definition whose view does not exist yet (a new segment, built in the same invocation: graph discovery
    gives dbt no edge to order it first) is not evaluated this run; its members enter at the next run. -#}
{%- set definitions = [] %}
{%- set skipped_segment_names = [] %}
{%- for definition in segment_definitions() %}
    {%- if adapter.get_relation(
        definition.relation.database, definition.relation.schema, definition.relation.identifier
    ) is none %}
        {%- do log('segment_memberships: ' ~ definition.relation ~ ' not built yet, skipped this run', info=true) %}
        {%- do skipped_segment_names.append(definition.segment_name) %}
    {%- else %}
        {%- do definitions.append(definition) %}
    {%- endif %}
{%- endfor %}
-- The built-in families and definitions, so that a build (a fresh warehouse included) orders them before this
-- model. A definition added without its line here is picked up one run later (docs/segments.md).
-- depends_on: {{ ref('customer_lifecycle_stages') }}
-- depends_on: {{ ref('customer_rfm') }}
-- depends_on: {{ ref('customer_personas') }}
-- depends_on: {{ ref('segment_lifecycle_advocacy') }}
-- depends_on: {{ ref('segment_lifecycle_at_risk') }}
-- depends_on: {{ ref('segment_lifecycle_awareness') }}
-- depends_on: {{ ref('segment_lifecycle_churned') }}
-- depends_on: {{ ref('segment_lifecycle_consideration') }}
-- depends_on: {{ ref('segment_lifecycle_purchase') }}
-- depends_on: {{ ref('segment_lifecycle_retention') }}
-- depends_on: {{ ref('segment_persona_bargain_hunter') }}
-- depends_on: {{ ref('segment_persona_browser') }}
-- depends_on: {{ ref('segment_persona_loyalist') }}
-- depends_on: {{ ref('segment_persona_subscriber') }}
-- depends_on: {{ ref('segment_rfm_champions') }}
-- depends_on: {{ ref('segment_rfm_hibernating') }}
-- depends_on: {{ ref('segment_rfm_loyal') }}
-- depends_on: {{ ref('segment_rfm_needs_attention') }}
-- depends_on: {{ ref('segment_rfm_new_customers') }}

with

current_members as (

    {% for definition in definitions %}
        -- one row per customer even if a definition repeats one (its unique test fails then)
        select
            '{{ definition.segment_name }}' as segment_name,
            cast(customer_id as {{ dbt.type_string() }}) as customer_id,
            {% if 'segment_value' in adapter.get_columns_in_relation(definition.relation)
                | map(attribute='name') | list -%}
                min(cast(segment_value as {{ dbt.type_string() }})) as segment_value
            {%- else -%}
                cast(null as {{ dbt.type_string() }}) as segment_value
            {%- endif %}
        from {{ definition.relation }}
        where customer_id is not null
        group by customer_id
        {% if not loop.last %}union all{% endif %}
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as segment_name,
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as {{ dbt.type_string() }}) as segment_value
        where false
    {% endfor %}

),

-- the last as_of this table recorded (null on the first run or a full refresh)
last_evaluated as (

    {% if is_incremental() %}
        select max(greatest(entered_at, coalesce(exited_at, entered_at))) as evaluated_at
        from {{ this }}
    {% else %}
        select cast(null as timestamp) as evaluated_at
    {% endif %}

),

open_memberships as (

    {% if is_incremental() %}
        select
            membership_id,
            segment_name,
            customer_id,
            segment_value,
            entered_at
        from {{ this }}
        where exited_at is null
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as membership_id,
            cast(null as {{ dbt.type_string() }}) as segment_name,
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as {{ dbt.type_string() }}) as segment_value,
            cast(null as timestamp) as entered_at
        where false
    {% endif %}

),

entries as (

    select
        current_members.segment_name,
        current_members.customer_id,
        current_members.segment_value,
        {{ as_of_timestamp() }} as entered_at,
        cast(null as timestamp) as exited_at
    from current_members
    left join open_memberships
        on
            current_members.segment_name = open_memberships.segment_name
            and current_members.customer_id = open_memberships.customer_id
    where open_memberships.customer_id is null

),

exits as (

    select
        open_memberships.segment_name,
        open_memberships.customer_id,
        open_memberships.segment_value,
        open_memberships.entered_at,
        {{ as_of_timestamp() }} as exited_at
    from open_memberships
    left join current_members
        on
            open_memberships.segment_name = current_members.segment_name
            and open_memberships.customer_id = current_members.customer_id
    where
        current_members.customer_id is null
        {%- for segment_name in skipped_segment_names %}
            and open_memberships.segment_name != '{{ segment_name }}'
        {%- endfor %}

),

changes as (

    select * from entries
    union all
    select * from exits

),

changes_after_last_run as (

    select
        {{ dbt.hash(dbt.concat([
            'changes.segment_name', "'|'", 'changes.customer_id', "'|'",
            dbt.cast('changes.entered_at', dbt.type_string())
        ])) }} as membership_id,
        changes.segment_name,
        changes.customer_id,
        changes.segment_value,
        changes.entered_at,
        changes.exited_at
    from changes
    cross join last_evaluated
    where
        last_evaluated.evaluated_at is null
        or {{ as_of_timestamp() }} > last_evaluated.evaluated_at

)

select * from changes_after_last_run
{{ incremental_stored_rows_kept(
    'membership_id', 'changes_after_last_run',
    ['membership_id', 'segment_name', 'customer_id', 'segment_value', 'entered_at', 'exited_at']
) }}
