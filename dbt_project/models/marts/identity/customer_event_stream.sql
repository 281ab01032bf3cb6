{#-
    Every product event up to as_of with the customer it belongs to after identity resolution: what the
    journey engine reads. An event that carried a shop customer_id (logged in) belongs to that account's
    customer; an anonymous event belongs to the customer its anonymous_id resolved to, so the browsing before a
    login is stitched to the customer too. Events of anonymous visitors (and of ambiguous anonymous ids) keep a
    null customer_id.

    Incremental: events not streamed yet among the staging rows loaded less than journeys__lookback_hours
    before the latest load already streamed (or with an event time later than any streamed) are resolved and
    added; events already streamed are resolved again only when the customer_id of their anonymous_id or of
    their shop account changed since the last run (customer_identities._customer_id_changed_at). That is how a
    login stitches the anonymous events streamed before it, at a cost proportional to the events whose customer
    changes.
-#}
{#- Spark: rebuilt whole every run (materialized table): parquet tables cannot delete the rows an incremental
    run replaces, and they do not fall into partitions that could be overwritten whole. -#}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

events as (

    select * from {{ ref('stg_raw__events') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

-- the watermarks of the events streamed by earlier runs (none on a full refresh)
streamed_until as (

    {% if is_incremental() %}
        select
            max(_loaded_at) as loaded_until,
            max(occurred_at) as seen_until,
            max(_identity_changed_at) as identities_changed_until
        from {{ this }}
    {% else %}
        select
            cast(null as timestamp) as loaded_until,
            cast(null as timestamp) as seen_until,
            cast(null as timestamp) as identities_changed_until
    {% endif %}

),

-- events in the window: loaded within the lookback of the latest load streamed, or later in event time than
-- anything streamed (events an earlier as_of left out); on a full refresh, every event
events_in_window as (

    select
        events.event_id,
        events.customer_id as tracked_customer_id,
        events.anonymous_id,
        events.session_id,
        events.event_name,
        events.page_path,
        events.product_id,
        events.cart_id,
        events.order_id,
        events.feature_name,
        events.cart_value,
        events.occurred_at,
        events._loaded_at
    from events
    cross join streamed_until
    where
        events.occurred_at <= {{ as_of_timestamp() }}
        and (
            streamed_until.loaded_until is null
            or events._loaded_at > {{ dbt.dateadd(
                'hour', -1 * var('journeys__lookback_hours', 72), 'streamed_until.loaded_until'
            ) }}
            or events.occurred_at > streamed_until.seen_until
        )

),

-- an event is immutable once streamed: those the lookback reads again are skipped, not rewritten
new_events as (

    select events_in_window.*
    from events_in_window
    {% if is_incremental() %}
        left join {{ this }} as streamed_events
            on events_in_window.event_id = streamed_events.event_id
        where streamed_events.event_id is null
    {% endif %}

),

events_to_resolve as (

    select * from new_events
    {% if is_incremental() %}
        union all

        select
            streamed_events.event_id,
            streamed_events.tracked_customer_id,
            streamed_events.anonymous_id,
            streamed_events.session_id,
            streamed_events.event_name,
            streamed_events.page_path,
            streamed_events.product_id,
            streamed_events.cart_id,
            streamed_events.order_id,
            streamed_events.feature_name,
            streamed_events.cart_value,
            streamed_events.occurred_at,
            streamed_events._loaded_at
        from {{ this }} as streamed_events
        -- events whose cookie or shop account changed customer since the last run
        where
            (
                'anonymous_id:' || streamed_events.anonymous_id in (
                    select reassigned_identities.identity_id
                    from customer_identities as reassigned_identities
                    cross join streamed_until
                    where reassigned_identities._customer_id_changed_at > streamed_until.identities_changed_until
                )
                or 'shop_customer_id:' || streamed_events.tracked_customer_id in (
                    select reassigned_identities.identity_id
                    from customer_identities as reassigned_identities
                    cross join streamed_until
                    where reassigned_identities._customer_id_changed_at > streamed_until.identities_changed_until
                )
            )
    {% endif %}

),

events_resolved as (

    select
        events_to_resolve.*,
        coalesce(tracked_customers.customer_id, anonymous_ids.customer_id) as customer_id,
        (
            events_to_resolve.tracked_customer_id is null
            and anonymous_ids.customer_id is not null
        ) as is_stitched,
        (
            select max(all_identities._customer_id_changed_at)
            from customer_identities as all_identities
        ) as _identity_changed_at
    from events_to_resolve
    left join customer_identities as tracked_customers
        on 'shop_customer_id:' || events_to_resolve.tracked_customer_id = tracked_customers.identity_id
    left join customer_identities as anonymous_ids
        on 'anonymous_id:' || events_to_resolve.anonymous_id = anonymous_ids.identity_id

),

stream_rows as (

    select
        event_id,
        customer_id,
        tracked_customer_id,
        anonymous_id,
        session_id,
        event_name,
        page_path,
        product_id,
        cart_id,
        order_id,
        feature_name,
        cart_value,
        is_stitched,
        occurred_at,
        _loaded_at,
        _identity_changed_at
    from events_resolved

)

select * from stream_rows
