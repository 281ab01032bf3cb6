{#-
    Web sessions derived from web events (events with a tracker session: page and product views, carts,
    checkouts, web orders, logins), per visitor (anonymous_id). A new session starts at a visitor's first event,
    after measurement__session_timeout_minutes without an event, and (measurement__session_split_on_new_source)
    when an event arrives with marketing parameters other than the previous event's, the way web analytics
    tools start a new session for a new campaign. An event's marketing parameters are those of its tracker
    session (stg_raw__sessions: utm_*, referrer); an event whose tracker session has no valid row carries none
    and never splits a session.

    The session's channel and campaign come from its first event's parameters (macro
    measurement_channel_grouping, rules measurement__channel_rules); its customer is the resolved customer of
    its events (customer_event_stream: logged-in events and the anonymous browsing stitched to them), null for
    visitors never resolved to a customer.
-#}
with

events as (

    select * from {{ ref('customer_event_stream') }}

),

tracker_sessions as (

    select * from {{ ref('stg_raw__sessions') }}

),

-- one integer per distinct (utm_source, utm_medium, utm_campaign, referrer), nulls equal: comparing it is
-- comparing the four values, at the cost of one integer per event
tracker_sessions_with_source as (

    select
        session_id,
        dense_rank() over (order by utm_source, utm_medium, utm_campaign, referrer) as marketing_source_id
    from tracker_sessions

),

web_events as (

    select
        events.event_id,
        events.customer_id,
        events.anonymous_id,
        events.session_id as tracker_session_id,
        tracker_sessions_with_source.marketing_source_id,
        events.occurred_at
    from events
    left join tracker_sessions_with_source
        on events.session_id = tracker_sessions_with_source.session_id
    where
        events.session_id is not null
        and events.anonymous_id is not null
        and events.occurred_at <= {{ as_of_timestamp() }}

),

events_with_previous as (

    select
        web_events.*,
        lag(web_events.occurred_at) over visitor_events as previous_occurred_at,
        lag(web_events.marketing_source_id) over visitor_events as previous_marketing_source_id
    from web_events
    window visitor_events as (partition by web_events.anonymous_id order by web_events.occurred_at, web_events.event_id)

),

session_starts_marked as (

    select
        *,
        (
            previous_occurred_at is null
            or occurred_at > {{ dbt.dateadd(
                'minute', var('measurement__session_timeout_minutes', 30), 'previous_occurred_at'
            ) }}
            {%- if var('measurement__session_split_on_new_source', true) %}
                -- an event without a valid tracker session row (null id) carries no parameters: no split
                or marketing_source_id <> previous_marketing_source_id
            {%- endif %}
        ) as is_session_start
    from events_with_previous

),

events_numbered as (

    select
        *,
        sum(case when is_session_start then 1 else 0 end) over (
            partition by anonymous_id order by occurred_at, event_id rows unbounded preceding
        ) as visitor_session_number
    from session_starts_marked

),

sessions_summarised as (

    select
        anonymous_id,
        visitor_session_number,
        min(customer_id) as customer_id,
        count(*) as events_count,
        max(occurred_at) as ended_at
    from events_numbered
    group by anonymous_id, visitor_session_number

),

landing_events as (

    select * from events_numbered
    where is_session_start

),

sessions_classified as (

    select
        'ws_' || landing_events.event_id as session_id,
        sessions_summarised.customer_id,
        landing_events.anonymous_id,
        landing_events.tracker_session_id,
        landing_events.event_id as landing_event_id,
        {{ measurement_channel_grouping(
            'tracker_sessions.utm_source', 'tracker_sessions.utm_medium',
            'tracker_sessions.utm_campaign', 'tracker_sessions.referrer'
        ) }} as channel,
        tracker_sessions.utm_campaign as campaign,
        tracker_sessions.utm_source,
        tracker_sessions.utm_medium,
        tracker_sessions.utm_campaign,
        tracker_sessions.referrer,
        tracker_sessions.landing_page,
        landing_events.visitor_session_number,
        sessions_summarised.events_count,
        landing_events.occurred_at as started_at,
        sessions_summarised.ended_at
    from landing_events
    inner join sessions_summarised
        on
            landing_events.anonymous_id = sessions_summarised.anonymous_id
            and landing_events.visitor_session_number = sessions_summarised.visitor_session_number
    left join tracker_sessions
        on landing_events.tracker_session_id = tracker_sessions.session_id

)

select * from sessions_classified
