{#-
    Consent over time per resolved customer x channel x purpose, with the source of every change.
    Grain: one row per change (a declared consent event, or an unsubscribe / spam complaint reported back by a
    channel, which opts the customer out of marketing on that channel). valid_to is the next change's time (null
    for the current state). Shop accounts are resolved to customers as the customers mart does.
    Rebuilt each run: consent rows are few next to events, and a change anywhere in the history re-orders it.
-#}
with

consent_events as (

    select * from {{ ref('stg_raw__consent_events') }}

),

engagement as (

    select * from {{ ref('stg_raw__message_engagement') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

shop_accounts_resolved as (

    {{ identity_shop_accounts('customer_identities') }}

),

declared as (

    select
        shop_accounts_resolved.customer_id,
        consent_events.channel,
        consent_events.purpose,
        consent_events.consent_status,
        consent_events.consent_source,
        consent_events.consent_event_id as source_record_id,
        consent_events.occurred_at
    from consent_events
    inner join shop_accounts_resolved
        on consent_events.customer_id = shop_accounts_resolved.shop_customer_id

),

reported_by_channels as (

    -- an unsubscribe or a complaint opts the customer out of marketing on that channel
    select
        shop_accounts_resolved.customer_id,
        engagement.channel,
        'marketing' as purpose,
        'opted_out' as consent_status,
        'channel_' || engagement.event_type as consent_source,
        engagement.message_event_id as source_record_id,
        engagement.occurred_at
    from engagement
    inner join shop_accounts_resolved
        on engagement.customer_id = shop_accounts_resolved.shop_customer_id
    where engagement.event_type in ('unsubscribed', 'complained')

),

changes as (

    select * from declared
    union all
    select * from reported_by_channels

),

history as (

    select
        md5(customer_id || '|' || channel || '|' || purpose || '|' || source_record_id) as consent_change_id,
        customer_id,
        channel,
        purpose,
        consent_status,
        consent_source,
        source_record_id,
        occurred_at as valid_from,
        lead(occurred_at) over (
            partition by customer_id, channel, purpose order by occurred_at, source_record_id
        ) as valid_to
    from changes
    where occurred_at <= {{ as_of_timestamp() }}

)

select * from history
