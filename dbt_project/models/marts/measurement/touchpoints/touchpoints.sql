{#-
    Every marketing touch of a customer or visitor: one row per web session (touch_type 'session', at its
    start, with its channel and campaign) and one per message event listed in measurement__message_touch_events
    (touch_type 'message': delivered, opened or clicked by default; channel = the message's channel, campaign =
    its campaign_name, i.e. the newsletter or the journey). Messages are resolved to customers through their
    shop account (identity_shop_accounts); a message to an account no customer resolves is left out.
-#}
with

sessions as (

    select * from {{ ref('sessions') }}

),

message_engagement as (

    select * from {{ ref('stg_raw__message_engagement') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

shop_accounts_resolved as (

    {{ identity_shop_accounts('customer_identities') }}

),

session_touches as (

    select
        'session:' || session_id as touchpoint_id,
        customer_id,
        session_id,
        cast(null as {{ dbt.type_string() }}) as message_id,
        channel,
        campaign,
        'session' as touch_type,
        'session' as touch_event,
        started_at as touched_at
    from sessions

),

message_touches as (

    select
        'message:' || message_engagement.message_event_id as touchpoint_id,
        shop_accounts_resolved.customer_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        message_engagement.message_id,
        message_engagement.channel,
        message_engagement.campaign_name as campaign,
        'message' as touch_type,
        message_engagement.event_type as touch_event,
        message_engagement.occurred_at as touched_at
    from message_engagement
    inner join shop_accounts_resolved
        on message_engagement.customer_id = shop_accounts_resolved.shop_customer_id
    where
        message_engagement.occurred_at <= {{ as_of_timestamp() }}
        and message_engagement.event_type in (
            {{ measurement_sql_list(var('measurement__message_touch_events', ['delivered', 'opened', 'clicked'])) }}
        )

),

touches_unioned as (

    select * from session_touches
    union all
    select * from message_touches

)

select * from touches_unioned
