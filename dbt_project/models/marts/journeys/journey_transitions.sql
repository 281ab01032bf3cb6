{#-
    The journey engine. Append-only log of every move of every enrollment: the source of truth for
    "where is everyone, and how did they get there" (docs/journey_semantics.md).

    Each run:
    1. resumes every open enrollment from its last committed step, on its journey's current version;
    2. considers new entry candidates (entry events since the last run, minus a lookback for late data);
    3. walks every one of them node by node (a recursive CTE) through steps whose time is <= as_of and
       before the enrollment's exit (exit rule or exiting goal); each step's look-ups (local windows, waited-for
       moments, condition facts) are joins to the int_journey_* models that find at most one row, and a run of
       actions and fixed delays is one step (docs/decisions/0017-walk-lookups-as-joins.md);
    4. accepts candidates in time order per customer under the journey's re-entry rule;
    5. appends the new steps. Committed rows are never rewritten.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{%- set as_of = as_of_timestamp() -%}
{%- set journey_rows = journey_config_rows('journeys', "status = 'active'") -%}
{%- set entry_conditions = journey_config_rows('journey_conditions', "scope in ('entry_where', 'audience')") -%}
{%- set branch_conditions = journey_config_rows('journey_conditions', "scope = 'branch'") -%}
{%- set condition_branches = journey_config_rows('journey_branches', "weight is null") -%}
{%- set attribute_delays = journey_config_rows('journey_nodes', "delay_kind = 'attribute'") -%}
{%- set customer_columns = journey_relation_columns(ref('customers')) -%}
{%- set customer_time_zone = "coalesce(customers.time_zone, 'UTC')" -%}
{%- set lookup_conditions = branch_conditions
    | selectattr('kind', 'in', ['has_event', 'in_segment', 'not_in_segment']) | list -%}
{#- The first moment a wait_for node waits for, when it comes before the node's timeout. -#}
{%- set first_waited_at = "case when wait_moments.occurred_at <= " ~ add_seconds('walk.step_at', 'journey_nodes.timeout_seconds')
    ~ " then wait_moments.occurred_at end" -%}
{#- Segment features: their SQL is generated only when an active journey uses them. -#}
{%- set event_journeys = journey_rows | selectattr('entry_event') | list -%}
{%- set segment_journeys = journey_rows | selectattr('entry_segment') | list -%}
{%- set segment_exit_rules = journey_config_rows('journey_exit_rules', "left_segment is not null") -%}
{%- set uses_segments = segment_journeys or segment_exit_rules -%}
-- segment conditions (in_segment, not_in_segment) read segment_memberships too
-- depends_on: {{ ref('segment_memberships') }}

with recursive

journeys as (

    select * from {{ source('journey_config', 'journeys') }}
    where status = 'active'

),

journey_nodes as (

    select * from {{ source('journey_config', 'journey_nodes') }}

),

random_branches as (

    select
        journey_id,
        node_id,
        next_node,
        sum(weight) over (
            partition by journey_id, node_id order by branch_index rows unbounded preceding
        ) - weight as bucket_from,
        sum(weight) over (
            partition by journey_id, node_id order by branch_index rows unbounded preceding
        ) as bucket_to,
        sum(weight) over (partition by journey_id, node_id) as total_weight
    from {{ source('journey_config', 'journey_branches') }}
    where weight is not null

),

fixed_runs (journey_id, run_from, node_id, hops, offset_seconds, from_node, reason, is_fixed) as (

    -- From each action or fixed-duration delay ("fixed" node), the nodes its enrollment reaches by fixed offsets
    -- alone, up to and including the first node that is not fixed (a wait, split, local-window or attribute
    -- delay, or exit): the walk jumps over such a run in one step and lists its nodes afterwards (walk_steps).
    select
        journey_id,
        node_id as run_from,
        node_id,
        0 as hops,
        cast(0 as bigint) as offset_seconds,
        cast(null as {{ dbt.type_string() }}) as from_node,
        cast(null as {{ dbt.type_string() }}) as reason,
        true as is_fixed
    from journey_nodes
    where node_type = 'action' or delay_kind = 'duration'

    union all

    select
        fixed_runs.journey_id,
        fixed_runs.run_from,
        reached.node_id,
        fixed_runs.hops + 1 as hops,
        fixed_runs.offset_seconds + coalesce(at_node.duration_seconds, 0) as offset_seconds,
        at_node.node_id as from_node,
        case when at_node.node_type = 'delay' then 'delay' else 'next' end as reason,
        reached.node_type = 'action' or coalesce(reached.delay_kind = 'duration', false) as is_fixed
    from fixed_runs
    inner join journey_nodes as at_node
        on
            fixed_runs.journey_id = at_node.journey_id
            and fixed_runs.node_id = at_node.node_id
    inner join journey_nodes as reached
        on
            at_node.journey_id = reached.journey_id
            and at_node.next_node = reached.node_id
    where fixed_runs.is_fixed

),

run_ends as (

    select * from fixed_runs
    where not is_fixed

),

exit_rules as (

    select * from {{ source('journey_config', 'journey_exit_rules') }}

),

events as (

    select * from {{ ref('int_journey_events') }}

),

customers as (

    select * from {{ ref('customers') }}

),

local_windows as (

    select * from {{ ref('int_journey_local_windows') }}

),

wait_moments as (

    select * from {{ ref('int_journey_wait_events') }}

),

condition_facts as (

    select * from {{ ref('int_journey_condition_facts') }}

),
{%- if uses_segments %}

segment_memberships as (

    -- membership as known at as_of: later entries have not happened yet, nor have later exits
    select
        customer_id,
        segment_name,
        entered_at,
        case when exited_at <= {{ as_of }} then exited_at end as exited_at
    from {{ ref('segment_memberships') }}
    where entered_at <= {{ as_of }}

),
{%- endif %}

previous_transitions as (

    {% if is_incremental() %}
        select * from {{ this }}
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as transition_id,
            cast(null as {{ dbt.type_string() }}) as enrollment_id,
            cast(null as {{ dbt.type_string() }}) as journey_id,
            cast(null as bigint) as journey_version,
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as {{ dbt.type_string() }}) as entry_event_id,
            cast(null as {{ dbt.type_string() }}) as dedupe_value,
            cast(null as {{ dbt.type_string() }}) as variant,
            cast(null as bigint) as step_number,
            cast(null as {{ dbt.type_string() }}) as from_node,
            cast(null as {{ dbt.type_string() }}) as to_node,
            cast(null as {{ dbt.type_string() }}) as reason,
            cast(null as timestamp) as entered_at,
            cast(null as timestamp) as transition_at,
            cast(null as {{ dbt.type_string() }}) as decided_in_run,
            cast(null as timestamp) as decided_as_of
        where false
    {% endif %}

),

last_run as (

    select max(decided_as_of) as last_as_of from previous_transitions

),

-- the last step of each enrollment
{{ journey_last_steps('last_steps', 'previous_transitions') }},

open_enrollments as (

    -- an enrollment is open until its __exit__ transition; a new version may have removed its node, or made it
    -- an exit node: it then ends at this run's as_of
    select
        last_steps.*,
        journey_nodes.node_id is null as is_on_removed_node,
        coalesce(journey_nodes.node_type = 'exit', false) as is_on_exit_node
    from last_steps
    inner join journeys
        on last_steps.journey_id = journeys.journey_id
    left join journey_nodes
        on
            last_steps.journey_id = journey_nodes.journey_id
            and last_steps.to_node = journey_nodes.node_id
    where last_steps.to_node <> '__exit__'

),

entry_candidates as (

    select
        md5(journeys.journey_id || '|' || events.customer_id || '|' || events.event_id) as enrollment_id,
        journeys.journey_id,
        journeys.version as journey_version,
        events.customer_id,
        events.event_id as entry_event_id,
        {%- set dedupe_journeys = journey_rows | selectattr('dedupe_key') | list %}
        {%- if dedupe_journeys %}
            case journeys.journey_id
                {%- for journey in dedupe_journeys %}
                    when '{{ journey["journey_id"] }}' then cast(events.{{ adapter.quote(journey['dedupe_key']) }} as {{ dbt.type_string() }})
                {%- endfor %}
            end
        {%- else %}
            cast(null as {{ dbt.type_string() }})
        {%- endif %} as dedupe_value,
        journeys.reentry_rule,
        journeys.cooldown_seconds,
        journeys.start_node,
        events.occurred_at as entered_at
    from events
    inner join journeys
        on events.event_name = journeys.entry_event
    left join customers
        on events.customer_id = customers.customer_id
    where
        {%- for journey in event_journeys %}
            {%- set conditions = entry_conditions | selectattr('journey_id', 'equalto', journey['journey_id']) | list %}
            {%- if conditions %}
                (journeys.journey_id <> '{{ journey["journey_id"] }}' or (true
                {%- for condition in conditions %}
                    and {{ journey_condition_sql(condition, 'events' if condition['scope'] == 'entry_where' else 'customers', 'events.customer_id', 'events.occurred_at') }}
                {%- endfor %}))
                and
            {%- endif %}
        {%- endfor %}
        not exists (
            select 1 from previous_transitions
            where previous_transitions.enrollment_id
                = md5(journeys.journey_id || '|' || events.customer_id || '|' || events.event_id)
        )
        {% if is_incremental() %}
            and events.occurred_at > {{ add_seconds(
                "coalesce((select last_run.last_as_of from last_run), cast('1900-01-01' as timestamp))",
                -3600 * var('journeys__lookback_hours') | int
            ) }}
        {% endif %}
    {%- if segment_journeys %}

    union all

    -- segment entries: a customer entering the segment is a candidate at its entered_at
    select
        md5(journeys.journey_id || '|' || segment_entries.customer_id || '|' || segment_entries.entry_id)
            as enrollment_id,
        journeys.journey_id,
        journeys.version as journey_version,
        segment_entries.customer_id,
        segment_entries.entry_id as entry_event_id,
        cast(null as {{ dbt.type_string() }}) as dedupe_value,
        journeys.reentry_rule,
        journeys.cooldown_seconds,
        journeys.start_node,
        segment_entries.entered_at
    from (
        select
            customer_id,
            segment_name,
            entered_at,
            'segment:' || segment_name || ':' || {{ timestamp_text('entered_at') }} as entry_id
        from segment_memberships
    ) as segment_entries
    inner join journeys
        on segment_entries.segment_name = journeys.entry_segment
    left join customers
        on segment_entries.customer_id = customers.customer_id
    where
        {%- for journey in segment_journeys %}
            {%- set conditions = entry_conditions | selectattr('journey_id', 'equalto', journey['journey_id']) | list %}
            {%- if conditions %}
                (journeys.journey_id <> '{{ journey["journey_id"] }}' or (true
                {%- for condition in conditions %}
                    and {{ journey_condition_sql(condition, 'customers', 'segment_entries.customer_id', 'segment_entries.entered_at') }}
                {%- endfor %}))
                and
            {%- endif %}
        {%- endfor %}
        not exists (
            select 1 from previous_transitions
            where previous_transitions.enrollment_id
                = md5(journeys.journey_id || '|' || segment_entries.customer_id || '|' || segment_entries.entry_id)
        )
        {% if is_incremental() %}
            and segment_entries.entered_at > {{ add_seconds(
                "coalesce((select last_run.last_as_of from last_run), cast('1900-01-01' as timestamp))",
                -3600 * var('journeys__lookback_hours') | int
            ) }}
        {% endif %}
    {%- endif %}

),

in_play as (

    select
        enrollment_id,
        journey_id,
        customer_id,
        entered_at,
        to_node as node_id,
        transition_at as step_at,
        step_number,
        true as is_resumed,
        is_on_removed_node,
        is_on_exit_node,
        -- exit rules and goals of a resumed enrollment look only after the last run (earlier times are decided)
        greatest(entered_at, (select last_run.last_as_of from last_run)) as exits_after
    from open_enrollments

    union all

    select
        enrollment_id,
        journey_id,
        customer_id,
        entered_at,
        start_node as node_id,
        entered_at as step_at,
        0 as step_number,
        false as is_resumed,
        false as is_on_removed_node,
        false as is_on_exit_node,
        entered_at as exits_after
    from entry_candidates

),

exit_rule_hits as (

    select
        enrollment_id,
        min(exit_at) as exit_rule_at
    from (
        select
            in_play.enrollment_id,
            events.occurred_at as exit_at
        from in_play
        inner join exit_rules
            on in_play.journey_id = exit_rules.journey_id
        inner join events
            on
                in_play.customer_id = events.customer_id
                and exit_rules.exit_event = events.event_name
                and events.occurred_at > in_play.exits_after
        {%- if segment_exit_rules %}

        union all

        -- leaving a segment: the end of a membership
        select
            in_play.enrollment_id,
            segment_memberships.exited_at as exit_at
        from in_play
        inner join exit_rules
            on in_play.journey_id = exit_rules.journey_id
        inner join segment_memberships
            on
                in_play.customer_id = segment_memberships.customer_id
                and exit_rules.left_segment = segment_memberships.segment_name
                and segment_memberships.exited_at > in_play.exits_after
        {%- endif %}
    ) as exit_times
    group by enrollment_id

),

goal_exit_hits as (

    select
        in_play.enrollment_id,
        min(events.occurred_at) as goal_at
    from in_play
    inner join journeys
        on in_play.journey_id = journeys.journey_id
    inner join events
        on
            in_play.customer_id = events.customer_id
            and journeys.goal_event = events.event_name
            and events.occurred_at > in_play.exits_after
            and events.occurred_at <= {{ add_seconds('in_play.entered_at', 'journeys.goal_within_seconds') }}
    where journeys.goal_exits
    group by in_play.enrollment_id

),

bounded as (

    select
        in_play.*,
        least(exit_rule_hits.exit_rule_at, goal_exit_hits.goal_at) as ends_at,
        case
            when goal_exit_hits.goal_at <= coalesce(exit_rule_hits.exit_rule_at, goal_exit_hits.goal_at)
                then 'goal'
            when exit_rule_hits.exit_rule_at is not null then 'exit_rule'
        end as end_reason
    from in_play
    left join exit_rule_hits
        on in_play.enrollment_id = exit_rule_hits.enrollment_id
    left join goal_exit_hits
        on in_play.enrollment_id = goal_exit_hits.enrollment_id

),

walk as (

    select
        enrollment_id,
        journey_id,
        customer_id,
        entered_at,
        ends_at,
        node_id,
        step_at,
        step_number,
        cast(null as {{ dbt.type_string() }}) as from_node,
        'entry' as reason,
        is_resumed as is_committed,
        cast(null as {{ dbt.type_string() }}) as jumped_from,
        cast(null as timestamp) as jumped_from_at,
        cast(null as bigint) as jumped_from_step
    from bounded
    where not (is_on_removed_node or is_on_exit_node)

    union all

    {#- One step of every enrollment still walking. Every lookup is a left join that finds at most one row
        (a local-window row, the first waited-for moment, the latest condition fact), so the recursive step has
        no correlated subquery: DuckDB ran those once per distinct input, and Spark refuses recursive
        references inside subquery expressions. #}
    select * from (
        select
            walk.enrollment_id,
            walk.journey_id,
            walk.customer_id,
            walk.entered_at,
            walk.ends_at,
            case
                when run_ends.node_id is not null then run_ends.node_id
                when journey_nodes.node_type in ('action', 'delay') then journey_nodes.next_node
                when journey_nodes.node_type = 'wait_for' and {{ first_waited_at }} is not null
                    then journey_nodes.on_event_node
                when journey_nodes.node_type = 'wait_for' then journey_nodes.on_timeout_node
                when journey_nodes.node_type = 'split' and random_branches.next_node is not null
                    then random_branches.next_node
                {%- if condition_branches %}
                    when journey_nodes.node_type = 'split' then case
                        {%- for branch in condition_branches %}
                            {%- set conditions = branch_conditions
                                | selectattr('journey_id', 'equalto', branch['journey_id'])
                                | selectattr('node_id', 'equalto', branch['node_id'])
                                | selectattr('branch_index', 'equalto', branch['branch_index']) | list %}
                            when walk.journey_id = '{{ branch["journey_id"] }}' and walk.node_id = '{{ branch["node_id"] }}'
                                {%- for condition in conditions %}
                                    and {{ journey_walk_condition_sql(condition, lookup_conditions) }}
                                {%- endfor %}
                                then '{{ branch["next_node"] }}'
                        {%- endfor %}
                        else journey_nodes.else_node
                    end
                {%- else %}
                    when journey_nodes.node_type = 'split' then journey_nodes.else_node
                {%- endif %}
            end as node_id,
            case
                when run_ends.node_id is not null then {{ add_seconds('walk.step_at', 'run_ends.offset_seconds') }}
                when journey_nodes.delay_kind = 'local_window'
                    then case
                        when walk.step_at < local_windows.window_end
                            then greatest(walk.step_at, local_windows.window_start)
                        else local_windows.next_window_start
                    end
                when journey_nodes.delay_kind = 'attribute' then {{ journey_attribute_moves_at(
                    'walk.step_at', customer_time_zone, attribute_delays, customer_columns) }}
                when journey_nodes.node_type = 'delay'
                    then {{ add_seconds('walk.step_at', 'journey_nodes.duration_seconds') }}
                when journey_nodes.node_type = 'wait_for'
                    then coalesce(
                        {{ first_waited_at }},
                        {{ add_seconds('walk.step_at', 'journey_nodes.timeout_seconds') }}
                    )
                else walk.step_at
            end as step_at,
            walk.step_number + coalesce(run_ends.hops, 1) as step_number,
            coalesce(run_ends.from_node, walk.node_id) as from_node,
            case
                when run_ends.node_id is not null then run_ends.reason
                when journey_nodes.node_type = 'delay' then 'delay'
                when journey_nodes.node_type = 'wait_for' and {{ first_waited_at }} is not null then 'event'
                when journey_nodes.node_type = 'wait_for' then 'timeout'
                when journey_nodes.node_type = 'split' and random_branches.next_node is not null then 'random'
                when journey_nodes.node_type = 'split' then 'condition'
                else 'next'
            end as reason,
            false as is_committed,
            case when run_ends.node_id is not null then walk.node_id end as jumped_from,
            case when run_ends.node_id is not null then walk.step_at end as jumped_from_at,
            case when run_ends.node_id is not null then walk.step_number end as jumped_from_step
        from walk
        inner join journey_nodes
            on
                walk.journey_id = journey_nodes.journey_id
                and walk.node_id = journey_nodes.node_id
        left join run_ends
            on
                walk.journey_id = run_ends.journey_id
                and walk.node_id = run_ends.run_from
        left join customers
            on walk.customer_id = customers.customer_id
        left join random_branches
            on
                journey_nodes.node_type = 'split'
                and walk.journey_id = random_branches.journey_id
                and walk.node_id = random_branches.node_id
                and {{ journey_bucket("walk.enrollment_id || '|' || walk.node_id", 'random_branches.total_weight') }}
                >= random_branches.bucket_from
                and {{ journey_bucket("walk.enrollment_id || '|' || walk.node_id", 'random_branches.total_weight') }}
                < random_branches.bucket_to
        left join local_windows
            on
                journey_nodes.delay_kind = 'local_window'
                and walk.journey_id = local_windows.journey_id
                and walk.node_id = local_windows.node_id
                and {{ customer_time_zone }} = local_windows.time_zone
                and cast({{ local_time_of_utc('walk.step_at', customer_time_zone) }} as date) = local_windows.local_day
        left join wait_moments
            on
                journey_nodes.node_type = 'wait_for'
                and walk.journey_id = wait_moments.journey_id
                and walk.node_id = wait_moments.node_id
                and walk.customer_id = wait_moments.customer_id
                and wait_moments.occurred_at > walk.step_at
                and (wait_moments.previous_occurred_at is null or wait_moments.previous_occurred_at <= walk.step_at)
        {%- for condition in lookup_conditions %}
            left join condition_facts as condition_facts_{{ loop.index }}
                on
                    walk.journey_id = '{{ condition["journey_id"] }}'
                    and walk.node_id = '{{ condition["node_id"] }}'
                    and walk.customer_id = condition_facts_{{ loop.index }}.customer_id
                    and condition_facts_{{ loop.index }}.fact_kind = '{{ "event" if condition["kind"] == "has_event" else "segment" }}'
                    and condition_facts_{{ loop.index }}.fact_name = '{{ condition["name"] }}'
                    and condition_facts_{{ loop.index }}.starts_at <= walk.step_at
                    and (
                        condition_facts_{{ loop.index }}.next_starts_at is null
                        or condition_facts_{{ loop.index }}.next_starts_at > walk.step_at
                    )
        {%- endfor %}
        where
            journey_nodes.node_type <> 'exit'
            and walk.step_number < {{ var('journeys__max_steps_per_enrollment') }}
            -- a jump is kept even when its end lies past as_of or the enrollment's exit (walk_steps keeps the
            -- part of the run before that), but the walk goes on only from a step it has taken
            and walk.step_at <= {{ as_of }}
            and (walk.ends_at is null or walk.step_at < walk.ends_at)
    ) as next_steps
    where
        next_steps.node_id is not null
        and (
            next_steps.jumped_from is not null
            or (
                next_steps.step_at <= {{ as_of }}
                and (next_steps.ends_at is null or next_steps.step_at < next_steps.ends_at)
            )
        )

),

walk_steps as (

    -- the steps taken: the walk's own, and the nodes of each jumped run up to as_of, the enrollment's exit and
    -- the step cap
    select
        enrollment_id,
        journey_id,
        customer_id,
        entered_at,
        ends_at,
        node_id,
        step_at,
        step_number,
        from_node,
        reason,
        is_committed
    from walk
    where jumped_from is null

    union all

    select * from (
        select
            walk.enrollment_id,
            walk.journey_id,
            walk.customer_id,
            walk.entered_at,
            walk.ends_at,
            fixed_runs.node_id,
            {{ add_seconds('walk.jumped_from_at', 'fixed_runs.offset_seconds') }} as step_at,
            walk.jumped_from_step + fixed_runs.hops as step_number,
            fixed_runs.from_node,
            fixed_runs.reason,
            false as is_committed
        from walk
        inner join fixed_runs
            on
                walk.journey_id = fixed_runs.journey_id
                and walk.jumped_from = fixed_runs.run_from
                and fixed_runs.hops >= 1
    ) as run_steps
    where
        run_steps.step_at <= {{ as_of }}
        and (run_steps.ends_at is null or run_steps.step_at < run_steps.ends_at)
        and run_steps.step_number <= {{ var('journeys__max_steps_per_enrollment') }}

),

walked_nodes as (

    select
        walk_steps.*,
        journey_nodes.node_type
    from walk_steps as walk_steps
    left join journey_nodes
        on
            walk_steps.journey_id = journey_nodes.journey_id
            and walk_steps.node_id = journey_nodes.node_id

),

enrollment_ends as (

    select
        bounded.enrollment_id,
        min(case when walked_nodes.node_type = 'exit' and not walked_nodes.is_committed then walked_nodes.step_at end)
            as completed_at,
        -- enrollments not walked (their node was removed or became an exit) stay where they were
        coalesce(max(walked_nodes.step_number), bounded.step_number) as last_step_number,
        coalesce(max_by(walked_nodes.node_id, walked_nodes.step_number), bounded.node_id) as last_node
    from bounded
    left join walked_nodes
        on bounded.enrollment_id = walked_nodes.enrollment_id
    group by bounded.enrollment_id, bounded.step_number, bounded.node_id

),

ends_known_at_as_of as (

    select
        bounded.enrollment_id,
        bounded.journey_id,
        bounded.customer_id,
        bounded.entered_at,
        bounded.is_resumed,
        enrollment_ends.last_step_number,
        enrollment_ends.last_node,
        case
            when bounded.is_on_removed_node or bounded.is_on_exit_node then {{ as_of }}
            else coalesce(enrollment_ends.completed_at, bounded.ends_at)
        end as ended_at,
        case
            when bounded.is_on_removed_node then 'node_removed'
            when bounded.is_on_exit_node then 'exit_node'
            when enrollment_ends.completed_at is not null then 'exit_node'
            else bounded.end_reason
        end as exit_reason
    from bounded
    inner join enrollment_ends
        on bounded.enrollment_id = enrollment_ends.enrollment_id

),

existing_enrollments as (

    -- every earlier enrollment with its end as known now (null while it is still active)
    select
        entries.journey_id,
        entries.customer_id,
        entries.entered_at,
        entries.dedupe_value,
        case
            when open_enrollments.enrollment_id is not null then ends_this_run.ended_at
            else closed.closed_at
        end as ended_at
    from previous_transitions as entries
    left join open_enrollments
        on entries.enrollment_id = open_enrollments.enrollment_id
    left join ends_known_at_as_of as ends_this_run
        on entries.enrollment_id = ends_this_run.enrollment_id
    left join (
        select
            enrollment_id,
            max(transition_at) as closed_at
        from previous_transitions
        group by enrollment_id
    ) as closed
        on entries.enrollment_id = closed.enrollment_id
    where entries.step_number = 0

),

existing_enrollment_state as (

    select
        journey_id,
        customer_id,
        latest_entered_at,
        latest_ended_at,
        used_dedupe_values
    from (
        select
            journey_id,
            customer_id,
            entered_at as latest_entered_at,
            ended_at as latest_ended_at,
            {{ string_array_agg_non_null('dedupe_value') }} over (
                partition by journey_id, customer_id
            ) as used_dedupe_values,
            row_number() over (partition by journey_id, customer_id order by entered_at desc) as recency_rank
        from existing_enrollments
    ) as ranked_enrollments
    where recency_rank = 1

),

ranked_candidates as (

    select
        entry_candidates.*,
        ends_known_at_as_of.ended_at,
        row_number() over (
            partition by entry_candidates.journey_id, entry_candidates.customer_id
            order by entry_candidates.entered_at, entry_candidates.entry_event_id
        ) as candidate_rank
    from entry_candidates
    inner join ends_known_at_as_of
        on entry_candidates.enrollment_id = ends_known_at_as_of.enrollment_id
    left join existing_enrollment_state
        on
            entry_candidates.journey_id = existing_enrollment_state.journey_id
            and entry_candidates.customer_id = existing_enrollment_state.customer_id
    where entry_candidates.entered_at > coalesce(
        existing_enrollment_state.latest_entered_at, cast('1900-01-01' as timestamp)
    )

),

acceptance as (

    select
        candidates.journey_id,
        candidates.customer_id,
        0 as candidate_rank,
        cast(null as {{ dbt.type_string() }}) as enrollment_id,
        false as is_accepted,
        existing_enrollment_state.journey_id is not null as has_enrollment,
        existing_enrollment_state.latest_ended_at as last_ended_at,
        coalesce(existing_enrollment_state.used_dedupe_values, {{ empty_string_array() }}) as used_dedupe_values
    from (select distinct journey_id, customer_id from ranked_candidates) as candidates
    left join existing_enrollment_state
        on
            candidates.journey_id = existing_enrollment_state.journey_id
            and candidates.customer_id = existing_enrollment_state.customer_id

    union all

    select
        decided.journey_id,
        decided.customer_id,
        decided.candidate_rank,
        decided.enrollment_id,
        decided.is_accepted,
        decided.has_enrollment or decided.is_accepted as has_enrollment,
        case when decided.is_accepted then decided.ended_at else decided.last_ended_at end as last_ended_at,
        case
            when decided.is_accepted and decided.dedupe_value is not null
                then {{ string_array_append('decided.used_dedupe_values', 'decided.dedupe_value') }}
            else decided.used_dedupe_values
        end as used_dedupe_values
    from (
        select
            ranked_candidates.journey_id,
            ranked_candidates.customer_id,
            ranked_candidates.candidate_rank,
            ranked_candidates.enrollment_id,
            ranked_candidates.ended_at,
            ranked_candidates.dedupe_value,
            acceptance.has_enrollment,
            acceptance.last_ended_at,
            acceptance.used_dedupe_values,
            not coalesce({{ string_array_contains('acceptance.used_dedupe_values', 'ranked_candidates.dedupe_value') }}, false)
            and case ranked_candidates.reentry_rule
                when 'never' then not acceptance.has_enrollment
                when 'always' then
                    not acceptance.has_enrollment
                    or coalesce(acceptance.last_ended_at <= ranked_candidates.entered_at, false)
                when 'cooldown' then
                    -- refused while an earlier enrollment is active or ended in (t - cooldown, t)
                    not acceptance.has_enrollment
                    or coalesce(
                        {{ add_seconds('acceptance.last_ended_at', 'ranked_candidates.cooldown_seconds') }}
                        <= ranked_candidates.entered_at
                        or acceptance.last_ended_at = ranked_candidates.entered_at,
                        false
                    )
                else false
            end as is_accepted
        from acceptance
        inner join ranked_candidates
            on
                acceptance.journey_id = ranked_candidates.journey_id
                and acceptance.customer_id = ranked_candidates.customer_id
                and acceptance.candidate_rank + 1 = ranked_candidates.candidate_rank
    ) as decided

),

accepted_enrollments as (

    select
        entry_candidates.*,
        case
            when {{ journey_bucket('entry_candidates.enrollment_id', 100) }} < journeys.holdout_percent
                then 'holdout'
            else 'treatment'
        end as variant
    from entry_candidates
    inner join acceptance
        on entry_candidates.enrollment_id = acceptance.enrollment_id
    inner join journeys
        on entry_candidates.journey_id = journeys.journey_id
    where acceptance.is_accepted

),

enrollment_facts as (

    select
        enrollment_id,
        journey_id,
        customer_id,
        entry_event_id,
        dedupe_value,
        variant,
        entered_at
    from accepted_enrollments

    union all

    select
        enrollment_id,
        journey_id,
        customer_id,
        entry_event_id,
        dedupe_value,
        variant,
        entered_at
    from open_enrollments

),

new_steps as (

    select
        walk_steps.enrollment_id,
        walk_steps.step_number,
        walk_steps.from_node,
        walk_steps.node_id as to_node,
        walk_steps.reason,
        walk_steps.step_at as transition_at
    from walk_steps
    -- refused candidates were walked too (to learn when they would have ended): only enrollments go on
    where
        not walk_steps.is_committed
        and walk_steps.enrollment_id in (select enrollment_facts.enrollment_id from enrollment_facts)

    union all

    select
        enrollment_id,
        last_step_number + 1 as step_number,
        last_node as from_node,
        '__exit__' as to_node,
        exit_reason as reason,
        ended_at as transition_at
    from ends_known_at_as_of
    where exit_reason is not null

),

decided as (

    select
        md5(enrollment_facts.enrollment_id || '|' || cast(new_steps.step_number as {{ dbt.type_string() }})) as transition_id,
        enrollment_facts.enrollment_id,
        enrollment_facts.journey_id,
        journeys.version as journey_version,
        enrollment_facts.customer_id,
        enrollment_facts.entry_event_id,
        enrollment_facts.dedupe_value,
        enrollment_facts.variant,
        new_steps.step_number,
        new_steps.from_node,
        new_steps.to_node,
        new_steps.reason,
        enrollment_facts.entered_at,
        new_steps.transition_at,
        {{ journeys_run_id() }} as decided_in_run,
        {{ as_of }} as decided_as_of
    from new_steps
    inner join enrollment_facts
        on new_steps.enrollment_id = enrollment_facts.enrollment_id
    inner join journeys
        on enrollment_facts.journey_id = journeys.journey_id

)

select * from decided
