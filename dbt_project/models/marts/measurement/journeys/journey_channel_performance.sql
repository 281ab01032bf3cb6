{#-
    Per journey and channel: what the journey's actions on the channel became and what they cost
    (docs/measurement.md, "Journey analytics"). channel is the channel a message went out on (after fallbacks),
    or the action kind (crm, audience) for the other actions.
-#}
with

actions as (

    select * from {{ ref('journey_action_outcomes') }}

),

channels_counted as (

    select
        journey_id,
        coalesce(channel, action_kind) as channel,
        count(*) as actions_decided,
        count(*) filter (where variant = 'holdout') as actions_held_out,
        count(*) filter (where is_sent) as actions_sent,
        count(*) filter (where state = 'failed') as actions_failed,
        count(*) filter (where state = 'suppressed' and variant != 'holdout') as actions_suppressed,
        count(*) filter (where is_delivered) as delivered,
        count(*) filter (where is_opened) as opened,
        count(*) filter (where is_clicked) as clicked,
        count(*) filter (where is_bounced) as bounced,
        count(*) filter (where is_opted_out) as opted_out,
        sum(message_cost) as message_cost
    from actions
    group by journey_id, coalesce(channel, action_kind)

),

rates as (

    select
        *,
        delivered / nullif(actions_sent, 0) as delivery_rate,
        opened / nullif(delivered, 0) as open_rate,
        clicked / nullif(delivered, 0) as click_rate
    from channels_counted

)

select * from rates
