{#-
    Where a delay "until the next allowed local time window" releases an enrollment (docs/journey_semantics.md):
    one row per local_window node, customer time zone and local day, with the first allowed window that starts
    on that local day or later (window_start, window_end, as naive UTC instants) and the allowed window after
    it (next_window_start). An enrollment that arrives at `at` leaves at greatest(at, window_start) when
    at < window_end, else at next_window_start, where the row's local day is at's local date.

    The walk (journey_transitions) reads it with one equality join instead of computing nine local days per
    step. Days run from two days before the first event to nine days after as_of, for every time zone a
    customer has: every arrival the walk can take has its row.
-#}
{{ config(materialized='table') }}

with

window_nodes as (

    select
        journey_id,
        node_id,
        window_days,
        window_start_minute,
        window_end_minute
    from {{ source('journey_config', 'journey_nodes') }}
    where delay_kind = 'local_window'

),

time_zones as (

    select distinct coalesce(time_zone, 'UTC') as time_zone
    from {{ ref('customers') }}

),

day_range as (

    select
        cast(min(occurred_at) as date) as first_event_day,
        cast({{ as_of_timestamp() }} as date) as as_of_day
    from {{ ref('int_journey_events') }}

),

local_days as (

    select {{ each_day(
        dbt.dateadd('day', -2, 'coalesce(first_event_day, as_of_day)'), dbt.dateadd('day', 9, 'as_of_day')
    ) }} as local_day
    from day_range

),

days_of_each_window as (

    select
        window_nodes.journey_id,
        window_nodes.node_id,
        window_nodes.window_start_minute,
        window_nodes.window_end_minute,
        time_zones.time_zone,
        cast(local_days.local_day as date) as local_day,
        (',' || window_nodes.window_days || ',')
        like ('%,' || {{ day_abbreviation('local_days.local_day') }} || ',%') as is_allowed
    from window_nodes
    cross join time_zones
    cross join local_days

),

windows_of_each_day as (

    select
        journey_id,
        node_id,
        time_zone,
        local_day,
        case
            when is_allowed then {{ utc_of_local_time('local_day', 'window_start_minute', 'time_zone') }}
        end as window_start,
        case
            when is_allowed then {{ utc_of_local_time('local_day', 'window_end_minute', 'time_zone') }}
        end as window_end
    from days_of_each_window

),

windows_from_each_day as (

    -- allowed windows start later on later days, so the smallest start from a day on is the first window
    select
        journey_id,
        node_id,
        time_zone,
        local_day,
        window_start,
        min(window_start) over (
            partition by journey_id, node_id, time_zone order by local_day
            rows between current row and unbounded following
        ) as first_window_start,
        min(window_end) over (
            partition by journey_id, node_id, time_zone order by local_day
            rows between current row and unbounded following
        ) as first_window_end,
        min(window_start) over (
            partition by journey_id, node_id, time_zone order by local_day
            rows between 1 following and unbounded following
        ) as later_window_start
    from windows_of_each_day

),

allowed_windows as (

    select
        journey_id,
        node_id,
        time_zone,
        window_start,
        later_window_start as next_window_start
    from windows_from_each_day
    where window_start is not null

)

select
    windows_from_each_day.journey_id,
    windows_from_each_day.node_id,
    windows_from_each_day.time_zone,
    windows_from_each_day.local_day,
    windows_from_each_day.first_window_start as window_start,
    windows_from_each_day.first_window_end as window_end,
    allowed_windows.next_window_start
from windows_from_each_day
left join allowed_windows
    on
        windows_from_each_day.journey_id = allowed_windows.journey_id
        and windows_from_each_day.node_id = allowed_windows.node_id
        and windows_from_each_day.time_zone = allowed_windows.time_zone
        and windows_from_each_day.first_window_start = allowed_windows.window_start
