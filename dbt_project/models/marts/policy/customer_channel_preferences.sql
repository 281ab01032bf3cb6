{#-
    Each customer's channels in order of preference, learnt from how often they engaged with what was delivered
    on each channel (int_messages_resolved_to_customers). docs/policy_learning.md has the estimator and the
    measured accuracy.

    Raw rates are not comparable across channels (an email is opened far more often than an SMS is clicked), so
    channels are ranked by lift: the customer's rate, shrunk towards the channel's global rate by
    policy__channel_prior_deliveries pseudo-deliveries, divided by that global rate. A channel with at least
    policy__channel_min_delivered deliveries to the customer has evidence (source `customer`); those come first,
    by lift. The others (source `global`) follow in the global order: global engagement rate, highest first.
    Remaining ties: alphabetical channel name.
-#}
with

customers as (

    select * from {{ ref('customers') }}

),

messages as (

    select * from {{ ref('int_messages_resolved_to_customers') }}

),

channels as (

    select message_channels.channel
    from (values ('email'), ('sms'), ('push')) as message_channels (channel)

),

deliveries_per_customer_and_channel as (

    select
        customer_id,
        channel,
        count(*) as delivered_count,
        count(*) filter (where is_engaged) as engaged_count
    from messages
    where is_delivered
    group by customer_id, channel

),

global_rates as (

    select
        channels.channel,
        sum(deliveries_per_customer_and_channel.engaged_count)
        / nullif(sum(deliveries_per_customer_and_channel.delivered_count), 0) as global_engagement_rate
    from channels
    left join deliveries_per_customer_and_channel
        on channels.channel = deliveries_per_customer_and_channel.channel
    group by channels.channel

),

customer_channels as (

    select
        customers.customer_id,
        global_rates.channel,
        cast(coalesce(deliveries_per_customer_and_channel.delivered_count, 0) as integer) as delivered_count,
        cast(coalesce(deliveries_per_customer_and_channel.engaged_count, 0) as integer) as engaged_count,
        global_rates.global_engagement_rate
    from customers
    cross join global_rates
    left join deliveries_per_customer_and_channel
        on
            customers.customer_id = deliveries_per_customer_and_channel.customer_id
            and global_rates.channel = deliveries_per_customer_and_channel.channel

),

customer_channels_scored as (

    select
        customer_id,
        channel,
        delivered_count,
        engaged_count,
        engaged_count / nullif(delivered_count, 0) as engagement_rate,
        global_engagement_rate,
        case
            when delivered_count > 0
                then
                    (engaged_count + {{ var('policy__channel_prior_deliveries', 10) }} * global_engagement_rate)
                    / (delivered_count + {{ var('policy__channel_prior_deliveries', 10) }})
                    / nullif(global_engagement_rate, 0)
        end as engagement_lift,
        delivered_count >= {{ var('policy__channel_min_delivered', 3) }} as has_evidence
    from customer_channels

),

customer_channels_ranked as (

    select
        customer_id,
        channel,
        case when has_evidence then 'customer' else 'global' end as source,  -- noqa: RF04
        cast(row_number() over (
            partition by customer_id
            order by
                has_evidence desc,
                case when has_evidence then engagement_lift end desc nulls last,
                global_engagement_rate desc nulls last,
                channel asc
        ) as integer) as preference_rank,
        engagement_rate,
        engagement_lift,
        global_engagement_rate,
        delivered_count as evidence_count,
        engaged_count,
        has_evidence
    from customer_channels_scored

)

select * from customer_channels_ranked
