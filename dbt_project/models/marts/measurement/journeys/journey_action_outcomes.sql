{#-
    Every action journeys decided, with its delivery state (policy.action_states: due, deferred, suppressed, sent,
    failed), the channel it went out on, what the engagement feed reported back for it and its configured cost
    (docs/measurement.md, "Journey analytics").

    Engagement events belong to an action when their message_id is the action_id: the idempotency key every
    destination receives with the message, which the engagement feed must echo back (ESPs return it as custom
    metadata on their webhooks). Events up to as_of count. The demo's generated engagement history is campaign
    mail with its own message ids, so in the demo no action has engagement.
-#}
with

actions as (

    select * from {{ ref('journey_actions') }}

),

action_states as (

    select * from {{ ref('action_states') }}

),

message_engagement as (

    select * from {{ ref('stg_raw__message_engagement') }}

),

engagement_per_message as (

    select
        message_id,
        bool_or(event_type = 'delivered') as is_delivered,
        bool_or(event_type in ('opened', 'clicked')) as is_opened,
        bool_or(event_type = 'clicked') as is_clicked,
        bool_or(event_type = 'bounced') as is_bounced,
        bool_or(event_type in ('unsubscribed', 'complained')) as is_opted_out
    from message_engagement
    where occurred_at <= {{ as_of_timestamp() }}
    group by message_id

),

actions_joined as (

    select
        actions.action_id,
        actions.enrollment_id,
        actions.journey_id,
        actions.journey_version,
        actions.customer_id,
        actions.node_id,
        actions.action_kind,
        coalesce(action_states.channel, actions.channel) as channel,
        actions.variant,
        action_states.state,
        action_states.reason as policy_reason,
        case
            when action_states.state = 'sent' and actions.action_kind = 'message'
                then {{ measurement_message_cost('coalesce(action_states.channel, actions.channel)') }}
            else 0
        end as message_cost,
        action_states.state = 'sent' as is_sent,
        coalesce(engagement_per_message.is_delivered, false) as is_delivered,
        coalesce(engagement_per_message.is_opened, false) as is_opened,
        coalesce(engagement_per_message.is_clicked, false) as is_clicked,
        coalesce(engagement_per_message.is_bounced, false) as is_bounced,
        coalesce(engagement_per_message.is_opted_out, false) as is_opted_out,
        actions.scheduled_at
    from actions
    left join action_states
        on actions.action_id = action_states.action_id
    left join engagement_per_message
        on actions.action_id = engagement_per_message.message_id

)

select * from actions_joined
