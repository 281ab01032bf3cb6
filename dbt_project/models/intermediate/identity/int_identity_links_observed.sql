{#-
    The edges of the identity graph: which identifiers were seen together, first and last (event time).

    Each staging row that carries identifiers links every one of them to the row's anchor: its shop
    customer_id when it has one, else its anonymous_id. The anchor is linked to itself, so every identifier
    has at least one link and its sightings are all in its links. Sources: identifies (anonymous_id,
    device_id, email, customer_id), sessions (anonymous_id, device_id, customer_id when logged in), events
    (anonymous_id, customer_id when logged in) and customers (customer_id, email). Emails are matched
    lower-cased and trimmed; ids as they are (an empty string is no id). Rows whose event time is after as_of
    are ignored.

    Incremental: staging rows loaded less than journeys__lookback_hours before the latest load already
    processed, and rows with an event time later than any processed (rows that an earlier as_of left out),
    are aggregated and combined with the stored links. Only new links and links whose first or last sighting
    moved are written, stamped with the run's start in _updated_at: customer_identities recomputes exactly
    the components those links touch.

    Materialised incrementally although it is an intermediate model: it is the persisted graph that lets an
    incremental run recompute a component without rescanning the history of events.
-#}
{#- Spark: rebuilt whole every run (materialized table): parquet tables cannot delete the rows an incremental
    run replaces, and they do not fall into partitions that could be overwritten whole. -#}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        unique_key='link_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

identifies as (

    select * from {{ ref('stg_raw__identifies') }}

),

sessions as (

    select * from {{ ref('stg_raw__sessions') }}

),

events as (

    select * from {{ ref('stg_raw__events') }}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

-- the links stored by earlier runs (none on a full refresh)
stored_links as (

    {% if is_incremental() %}
        select
            link_id,
            first_seen_at,
            last_seen_at,
            _loaded_at
        from {{ this }}
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as link_id,
            cast(null as timestamp) as first_seen_at,
            cast(null as timestamp) as last_seen_at,
            cast(null as timestamp) as _loaded_at
        where false
    {% endif %}

),

processed_until as (

    select
        max(_loaded_at) as loaded_until,
        max(last_seen_at) as seen_until
    from stored_links

),

identifier_sightings as (

    select
        customer_id as shop_customer_id,
        anonymous_id,
        device_id,
        email,
        occurred_at as seen_at,
        _loaded_at
    from identifies

    union all

    select
        customer_id as shop_customer_id,
        anonymous_id,
        device_id,
        cast(null as {{ dbt.type_string() }}) as email,
        started_at as seen_at,
        _loaded_at
    from sessions

    union all

    select
        customer_id as shop_customer_id,
        anonymous_id,
        cast(null as {{ dbt.type_string() }}) as device_id,
        cast(null as {{ dbt.type_string() }}) as email,
        occurred_at as seen_at,
        _loaded_at
    from events

    union all

    select
        customer_id as shop_customer_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as device_id,
        email,
        signed_up_at as seen_at,
        _loaded_at
    from customers

),

-- new rows: loaded within the lookback of the latest load processed, or later in event time than anything
-- processed (rows an earlier as_of left out); on a full refresh, every row
sightings_in_scope as (

    select
        identifier_sightings.seen_at,
        identifier_sightings._loaded_at,
        nullif(identifier_sightings.shop_customer_id, '') as shop_customer_id,
        nullif(identifier_sightings.anonymous_id, '') as anonymous_id,
        nullif(identifier_sightings.device_id, '') as device_id,
        nullif(lower(trim(identifier_sightings.email)), '') as email
    from identifier_sightings
    cross join processed_until
    where
        identifier_sightings.seen_at <= {{ as_of_timestamp() }}
        and (
            processed_until.loaded_until is null
            or identifier_sightings._loaded_at > {{ dbt.dateadd(
                'hour', -1 * var('journeys__lookback_hours', 72), 'processed_until.loaded_until'
            ) }}
            or identifier_sightings.seen_at > processed_until.seen_until
        )

),

-- many rows carry the same identifiers (every event of a logged-in visitor): collapse them first
identifier_combinations as (

    select
        shop_customer_id,
        anonymous_id,
        device_id,
        email,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at,
        max(_loaded_at) as _loaded_at
    from sightings_in_scope
    group by
        shop_customer_id,
        anonymous_id,
        device_id,
        email

),

combinations_with_anchor as (

    select
        *,
        case
            when shop_customer_id is not null then 'shop_customer_id:' || shop_customer_id
            when anonymous_id is not null then 'anonymous_id:' || anonymous_id
            when device_id is not null then 'device_id:' || device_id
            else 'email:' || email
        end as anchor_identity_id,
        case
            when shop_customer_id is not null then 'shop_customer_id'
            when anonymous_id is not null then 'anonymous_id'
            when device_id is not null then 'device_id'
            else 'email'
        end as anchor_identifier_type,
        coalesce(shop_customer_id, anonymous_id, device_id, email) as anchor_identifier_value
    from identifier_combinations
    where coalesce(shop_customer_id, anonymous_id, device_id, email) is not null

),

-- one row per identifier type: spreads each combination over its identifiers in a single pass
identifier_types as (

    select 'shop_customer_id' as identifier_type
    union all
    select 'anonymous_id' as identifier_type
    union all
    select 'device_id' as identifier_type
    union all
    select 'email' as identifier_type

),

identifiers_linked_to_anchor as (

    select
        identifier_types.identifier_type,
        combinations_with_anchor.anchor_identity_id,
        combinations_with_anchor.anchor_identifier_type,
        combinations_with_anchor.anchor_identifier_value,
        combinations_with_anchor.first_seen_at,
        combinations_with_anchor.last_seen_at,
        combinations_with_anchor._loaded_at,
        case identifier_types.identifier_type
            when 'shop_customer_id' then combinations_with_anchor.shop_customer_id
            when 'anonymous_id' then combinations_with_anchor.anonymous_id
            when 'device_id' then combinations_with_anchor.device_id
            when 'email' then combinations_with_anchor.email
        end as identifier_value
    from combinations_with_anchor
    cross join identifier_types

),

identifiers_with_identity_ids as (

    select
        *,
        identifier_type || ':' || identifier_value as member_identity_id
    from identifiers_linked_to_anchor
    where identifier_value is not null

),

-- a link is stored once, its smaller identity_id first (so shop customers, 's...', are always on the linked side)
links_seen_in_scope as (

    select
        first_seen_at,
        last_seen_at,
        _loaded_at,
        case
            when member_identity_id <= anchor_identity_id then member_identity_id else anchor_identity_id
        end as identity_id,
        case
            when member_identity_id <= anchor_identity_id then identifier_type else anchor_identifier_type
        end as identifier_type,
        case
            when member_identity_id <= anchor_identity_id then identifier_value else anchor_identifier_value
        end as identifier_value,
        case
            when member_identity_id <= anchor_identity_id then anchor_identity_id else member_identity_id
        end as linked_identity_id,
        case
            when member_identity_id <= anchor_identity_id then anchor_identifier_type else identifier_type
        end as linked_identifier_type,
        case
            when member_identity_id <= anchor_identity_id then anchor_identifier_value else identifier_value
        end as linked_identifier_value
    from identifiers_with_identity_ids

),

links_aggregated as (

    select
        identity_id,
        identifier_type,
        identifier_value,
        linked_identity_id,
        linked_identifier_type,
        linked_identifier_value,
        identity_id || ' ' || linked_identity_id as link_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        max(_loaded_at) as _loaded_at
    from links_seen_in_scope
    group by
        identity_id,
        identifier_type,
        identifier_value,
        linked_identity_id,
        linked_identifier_type,
        linked_identifier_value

),

links_new_or_moved as (

    select
        links_aggregated.link_id,
        links_aggregated.identity_id,
        links_aggregated.identifier_type,
        links_aggregated.identifier_value,
        links_aggregated.linked_identity_id,
        links_aggregated.linked_identifier_type,
        links_aggregated.linked_identifier_value,
        case
            when stored_links.first_seen_at < links_aggregated.first_seen_at then stored_links.first_seen_at
            else links_aggregated.first_seen_at
        end as first_seen_at,
        case
            when stored_links.last_seen_at > links_aggregated.last_seen_at then stored_links.last_seen_at
            else links_aggregated.last_seen_at
        end as last_seen_at,
        case
            when stored_links._loaded_at > links_aggregated._loaded_at then stored_links._loaded_at
            else links_aggregated._loaded_at
        end as _loaded_at
    from links_aggregated
    left join stored_links
        on links_aggregated.link_id = stored_links.link_id
    where
        stored_links.link_id is null
        or links_aggregated.first_seen_at < stored_links.first_seen_at
        or links_aggregated.last_seen_at > stored_links.last_seen_at

),

links_stamped as (

    select
        *,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp) as _updated_at
    from links_new_or_moved

)

select * from links_stamped
