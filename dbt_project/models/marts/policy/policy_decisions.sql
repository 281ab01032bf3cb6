{#-
    Delivery policy: the single place where what journeys decided becomes what may be sent (docs/policy.md).
    Append-only log. Grain: one row per (action, evaluation that changed its state). Each run evaluates only the
    open actions: new journey actions, deferred actions whose time has come, and due actions activation has not
    sent yet (their permission is checked again, so an unsubscribe stops a message not sent yet). The latest row
    of an action is its policy state: due, deferred (with send_after) or suppressed (final, with a reason).

    Order of checks for one action (the first that applies decides):
      erasure requested -> suppressed/erased; holdout variant -> suppressed/holdout; global suppression list -> suppressed/suppressed;
      channel choice: the first of [channel] + fallback_channels that consent permits and that is reachable,
        none permitted -> suppressed/no_consent, permitted but none reachable -> suppressed/unreachable;
      send time: as decided, or the customer's learnt best local hour (send_time: optimal);
      quiet hours of the chosen channel in the customer's time zone -> moved to their end (never dropped);
      later than as_of -> deferred; more than policy__max_lateness_hours late -> suppressed/stale;
      journey paused (journey_config.journey_status_changes) -> deferred/journey_paused, held until it resumes;
      frequency caps across all journeys, by journey priority -> due, or deferred/dropped (frequency_cap).

    var journeys__selected (a list of journey ids; null = all): a run launched for some journeys evaluates only
    their actions; the others' open actions wait, unevaluated, for a run that includes them.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{%- set as_of = as_of_timestamp() -%}
{%- set consent_rules = var('policy__consent_rules') -%}
{%- set quiet_hours = var('policy__quiet_hours') -%}
{%- set caps = var('policy__frequency_caps') -%}
{%- set lateness = var('policy__max_lateness_hours') -%}
{%- set ledger = adapter.get_relation(this.database, 'activation', 'send_ledger') if execute else none -%}
{%- set status_changes = adapter.get_relation(this.database, 'journey_config', 'journey_status_changes')
    if execute else none -%}
{%- set selected_journeys = journeys_selected() -%}

with

actions as (

    select * from {{ ref('journey_actions') }}
    {%- if selected_journeys %}
        where journey_id in ({{ policy_string_list(selected_journeys) }})
    {%- endif %}

),

journeys as (

    select * from {{ source('journey_config', 'journeys') }}

),

customers as (

    select * from {{ ref('customers') }}

),

consent_now as (

    select * from {{ ref('consent_history') }}
    where valid_to is null

),

reachability as (

    select * from {{ ref('channel_reachability') }}

),

suppression_list as (

    select * from {{ ref('suppression_list') }}

),

erased_customers as (

    select * from {{ ref('erased_customers') }}

),

send_hours as (

    select * from {{ ref('customer_send_hours') }}

),

channel_preferences as (

    select * from {{ ref('customer_channel_preferences') }}

),

paused_journeys as (

    -- each journey's latest status change in effect at as_of (set by the set_journey_status job or
    -- `journeys pause/resume`); absent until the first change
    {% if status_changes is not none %}
        select
            journey_id,
            reason as pause_reason,
            changed_by as paused_by,
            effective_at as paused_at
        from {{ status_changes }}
        where effective_at <= {{ as_of }}
        qualify
            row_number() over (
                partition by journey_id order by effective_at desc, changed_at desc, change_id desc
            ) = 1
            and status = 'paused'
    {% else %}
        select
            cast(null as varchar) as journey_id,
            cast(null as varchar) as pause_reason,
            cast(null as varchar) as paused_by,
            cast(null as timestamp) as paused_at
        where false
    {% endif %}

),

previous_decisions as (

    {% if is_incremental() %}
        select * from {{ this }}
    {% else %}
        select
            cast(null as varchar) as decision_id,
            cast(null as varchar) as action_id,
            cast(null as bigint) as evaluation_number,
            cast(null as varchar) as customer_id,
            cast(null as varchar) as journey_id,
            cast(null as varchar) as node_id,
            cast(null as varchar) as action_kind,
            cast(null as varchar) as state,
            cast(null as varchar) as reason,
            cast(null as varchar) as detail,
            cast(null as varchar) as channel,
            cast(null as varchar) as destination,
            cast(null as varchar) as purpose,
            cast(null as bigint) as priority,
            cast(null as timestamp) as scheduled_at,
            cast(null as timestamp) as send_after,
            cast(null as varchar) as decided_in_run,
            cast(null as timestamp) as decided_as_of
        where false
    {% endif %}

),

latest_decisions as (

    select *
    from previous_decisions
    qualify row_number() over (partition by action_id order by evaluation_number desc) = 1

),

sent_or_failed as (

    -- what activation has sent (the send ledger): out of policy's hands. A failed attempt stays due and is
    -- checked again, then retried by activation.
    {% if ledger is not none %}
        select distinct action_id
        from {{ ledger }}
        where state = 'sent'
    {% else %}
        select cast(null as varchar) as action_id
        where false
    {% endif %}

),

first_due as (

    -- when each action was first released to activation: what frequency caps count
    select
        action_id,
        customer_id,
        channel,
        purpose,
        min(decided_as_of) as released_at
    from previous_decisions
    where state = 'due'
    group by action_id, customer_id, channel, purpose

),

open_actions as (

    select
        actions.*,
        'new' as evaluation,
        actions.scheduled_at as base_send_at,
        cast(null as varchar) as held_channel,
        cast(null as varchar) as previous_reason,
        cast(0 as bigint) as evaluation_number
    from actions
    left join latest_decisions
        on actions.action_id = latest_decisions.action_id
    where latest_decisions.action_id is null

    union all

    select
        actions.*,
        latest_decisions.state as evaluation,
        latest_decisions.send_after as base_send_at,
        -- a due action keeps the channel it was released on; a deferred one chooses again
        case when latest_decisions.state = 'due' then latest_decisions.channel end as held_channel,
        latest_decisions.reason as previous_reason,
        latest_decisions.evaluation_number
    from actions
    inner join latest_decisions
        on actions.action_id = latest_decisions.action_id
    where
        (latest_decisions.state = 'deferred' and latest_decisions.send_after <= {{ as_of }})
        or (
            latest_decisions.state = 'due'
            and latest_decisions.action_id not in (select sent_or_failed.action_id from sent_or_failed)
        )

),

described as (

    select
        open_actions.*,
        coalesce(journeys.priority, 50) as priority,
        coalesce(journeys.when_capped, 'defer') as when_capped,
        coalesce(json_extract_string(open_actions.action_config, '$.purpose'), 'marketing') as purpose,
        coalesce(json_extract_string(open_actions.action_config, '$.send_time'), 'as_decided') as send_time,
        coalesce(json_extract_string(open_actions.action_config, '$.channel_choice'), 'as_listed') as channel_choice,
        send_hours.best_hour_local,
        send_hours.source as best_hour_source,
        coalesce(customers.time_zone, 'UTC') as time_zone,
        case when customers.is_eu then 'eu' else 'other' end as region,
        suppression_list.list_name as suppression_list_name,
        erased_customers.request_id as erasure_request_id,
        paused_journeys.journey_id is not null as is_journey_paused,
        paused_journeys.pause_reason,
        paused_journeys.paused_by,
        paused_journeys.paused_at,
        -- messages: the primary channel then each fallback, in order (or the channel a due action holds);
        -- audiences are uploaded by email address, so they need email and marketing consent to it
        case
            when open_actions.held_channel is not null then [open_actions.held_channel]
            when open_actions.action_kind = 'message'
                then list_prepend(
                    open_actions.channel,
                    coalesce(cast(json(open_actions.fallback_channels) as varchar[]), cast([] as varchar[]))
                )
            when open_actions.action_kind = 'audience' then ['email']
            else cast([] as varchar[])
        end as channel_list
    from open_actions
    left join journeys
        on open_actions.journey_id = journeys.journey_id
    left join customers
        on open_actions.customer_id = customers.customer_id
    left join suppression_list
        on open_actions.customer_id = suppression_list.customer_id
    left join send_hours
        on open_actions.customer_id = send_hours.customer_id
    left join erased_customers
        on open_actions.customer_id = erased_customers.customer_id
    left join paused_journeys
        on open_actions.journey_id = paused_journeys.journey_id

),

listed_channels as (

    select
        action_id,
        customer_id,
        channel_choice,
        unnest(channel_list) as channel,
        generate_subscripts(channel_list, 1) as list_position
    from described

),

channel_options as (

    -- channel_choice: preferred tries the listed channels in the customer's learnt order instead
    select
        listed_channels.action_id,
        listed_channels.channel,
        row_number() over (
            partition by listed_channels.action_id
            order by
                case
                    when listed_channels.channel_choice = 'preferred'
                        then coalesce(channel_preferences.preference_rank, 99)
                end asc,
                listed_channels.list_position asc
        ) as option_number
    from listed_channels
    left join channel_preferences
        on
            listed_channels.customer_id = channel_preferences.customer_id
            and listed_channels.channel = channel_preferences.channel

),

channel_checks as (

    select
        channel_options.action_id,
        channel_options.channel,
        channel_options.option_number,
        consent_now.consent_status,
        case
            {%- for rule in consent_rules %}
                when
                    {{ "true" if rule.channel == 'any' else "channel_options.channel = '" ~ rule.channel ~ "'" }}
                    and {{ "true" if rule.purpose == 'any' else "described.purpose = '" ~ rule.purpose ~ "'" }}
                    and {{ "true" if rule.region == 'any' else "described.region = '" ~ rule.region ~ "'" }}
                    then '{{ rule.requires }}'
            {%- endfor %}
            else 'opt_in'
        end as consent_required,
        -- a due action being retried keeps its channel through its own failed attempts (activation retries it)
        coalesce(
            reachability.is_reachable
            or (described.held_channel is not null and reachability.unreachable_reason = 'delivery_failed'),
            false
        ) as is_reachable,
        coalesce(reachability.unreachable_reason, 'unknown_customer') as unreachable_reason
    from channel_options
    inner join described
        on channel_options.action_id = described.action_id
    left join consent_now
        on
            described.customer_id = consent_now.customer_id
            and channel_options.channel = consent_now.channel
            and described.purpose = consent_now.purpose
    left join reachability
        on
            described.customer_id = reachability.customer_id
            and channel_options.channel = reachability.channel

),

channel_verdicts as (

    select
        *,
        case consent_required
            when 'opt_in' then coalesce(consent_status = 'opted_in', false)
            else coalesce(consent_status <> 'opted_out', true)
        end as is_permitted
    from channel_checks

),

channel_choice as (

    select
        action_id,
        min(case when is_permitted and is_reachable then option_number end) as chosen_option,
        bool_or(is_permitted) as any_permitted,
        string_agg(
            channel || ': ' || case
                when not is_permitted
                    then
                        'no consent (' || consent_required || ' required, latest '
                        || coalesce(consent_status, 'none') || ')'
                when not is_reachable then 'unreachable (' || unreachable_reason || ')'
                else 'ok'
            end,
            '; ' order by option_number
        ) as channel_detail
    from channel_verdicts
    group by action_id

),

permission as (

    select
        described.*,
        case
            when described.action_kind = 'crm' then 'crm'
            when described.action_kind = 'audience' then 'audience'
            else chosen.channel
        end as destination,
        case when described.action_kind = 'message' then chosen.channel end as final_channel,
        case
            when described.erasure_request_id is not null then 'erased'
            when described.variant = 'holdout' then 'holdout'
            when described.suppression_list_name is not null then 'suppressed'
            when described.action_kind = 'crm' then null
            when channel_choice.chosen_option is not null then null
            when channel_choice.any_permitted then 'unreachable'
            else 'no_consent'
        end as blocked_reason,
        case
            when described.erasure_request_id is not null
                then 'erasure request ' || described.erasure_request_id || ': never contacted again'
            when described.variant = 'holdout' then 'holdout enrollment: measured, never messaged'
            when described.suppression_list_name is not null
                then 'on the ' || described.suppression_list_name || ' suppression list'
            else channel_choice.channel_detail
        end as permission_detail
    from described
    left join channel_choice
        on described.action_id = channel_choice.action_id
    left join channel_verdicts as chosen
        on
            channel_choice.action_id = chosen.action_id
            and channel_choice.chosen_option = chosen.option_number

),

with_send_base as (

    select
        *,
        -- send-time optimisation: a new action goes at the next occurrence of the customer's best local hour
        case
            when evaluation = 'new' and send_time = 'optimal' and best_hour_local is not null
                then {{ policy_next_local_hour('base_send_at', 'time_zone', 'best_hour_local') }}
            else base_send_at
        end as send_base
    from (
        select
            permission.*,
            case permission.final_channel
                {%- for channel, hours in quiet_hours.items() %}
                    when '{{ channel }}' then {{ policy_clock_minutes(hours.start) }}
                {%- endfor %}
            end as quiet_start_minute,
            case permission.final_channel
                {%- for channel, hours in quiet_hours.items() %}
                    when '{{ channel }}' then {{ policy_clock_minutes(hours.end) }}
                {%- endfor %}
            end as quiet_end_minute,
            case permission.destination
                {%- for destination, hours in lateness.items() %}
                    when '{{ destination }}' then {{ hours }}
                {%- endfor %}
                else 24
            end as max_lateness_hours
        from permission
    ) as with_settings

),

timed as (

    -- quiet hours are checked at the moment of dispatch: the send time, or this run when that has passed
    select
        *,
        coalesce(
            {{ policy_quiet_hours_end('dispatch_at', 'time_zone', 'quiet_start_minute', 'quiet_end_minute') }},
            send_base
        ) as send_after,
        {{ policy_quiet_hours_end('dispatch_at', 'time_zone', 'quiet_start_minute', 'quiet_end_minute') }}
        is not null as is_in_quiet_hours
    from (
        select
            *,
            greatest(send_base, {{ as_of }}) as dispatch_at
        from with_send_base
    ) as with_dispatch_time

),

staged as (

    select
        *,
        -- staleness is measured from the send time (a quiet-hours deferral does not revive a months-old action)
        case
            when blocked_reason is not null then 'suppressed'
            when {{ as_of }} - send_base > to_hours(max_lateness_hours) then 'suppressed'
            when send_after > {{ as_of }} then 'deferred'
            -- a paused journey's sendable actions are held (not sent, not lost) and take no frequency-cap slot;
            -- send_after stays their send time, so staleness still counts from it when the journey resumes
            when is_journey_paused then 'deferred'
            when evaluation = 'due' then 'due'
            else 'cap'
        end as policy_stage,
        case
            when blocked_reason is not null then blocked_reason
            when {{ as_of }} - send_base > to_hours(max_lateness_hours) then 'stale'
            when send_after > {{ as_of }} then case when is_in_quiet_hours then 'quiet_hours' else 'scheduled' end
            when is_journey_paused then 'journey_paused'
        end as stage_reason
    from timed

),

cap_candidates as (

    select
        *,
        {{ policy_caps_counts_for(caps, 'action_kind', 'final_channel', 'purpose') }},
        row_number() over (
            partition by customer_id order by priority desc, send_after asc, action_id asc
        ) as cap_rank
    from staged
    where policy_stage = 'cap'

),

released_in_windows as (

    -- actions released earlier whose release still counts in each cap's window
    select
        first_due.customer_id,
        {{ policy_caps_used_in_window(caps, 'first_due', as_of) }}
    from first_due
    left join latest_decisions
        on first_due.action_id = latest_decisions.action_id
    where
        latest_decisions.state is distinct from 'suppressed'
        and first_due.customer_id in (select cap_candidates.customer_id from cap_candidates)
    group by first_due.customer_id

),

cap_walk as (

    -- per customer, actions in priority order; each takes a slot in every cap it counts for, if all have one
    with recursive walked as (
        select
            customers_to_walk.customer_id,
            cast(0 as bigint) as cap_rank,
            cast(null as varchar) as action_id,
            cast(null as boolean) as is_released,
            {{ policy_caps_initial_use(caps, 'released_in_windows') }}
        from (select distinct customer_id from cap_candidates) as customers_to_walk
        left join released_in_windows
            on customers_to_walk.customer_id = released_in_windows.customer_id

        union all

        select
            walked.customer_id,
            next_action.cap_rank,
            next_action.action_id,
            {{ policy_caps_fit(caps, 'next_action', 'walked') }} as is_released,
            {{ policy_caps_take_slots(caps, 'next_action', 'walked') }}
        from walked
        inner join cap_candidates as next_action
            on
                walked.customer_id = next_action.customer_id
                and walked.cap_rank + 1 = next_action.cap_rank
    )

    select
        walked.action_id,
        walked.is_released,
        -- a capped action can go once the oldest release counted in every cap that bound it leaves the window
        {{ policy_caps_free_at(caps, 'cap_candidates', 'walked_before', 'released_in_windows', as_of) }}
            as cap_frees_at,
        {{ policy_caps_binding(caps, 'cap_candidates', 'walked_before') }} as binding_caps
    from walked
    inner join cap_candidates
        on walked.action_id = cap_candidates.action_id
    inner join walked as walked_before
        on
            walked.customer_id = walked_before.customer_id
            and walked.cap_rank = walked_before.cap_rank + 1
    left join released_in_windows
        on walked.customer_id = released_in_windows.customer_id

),

evaluated as (

    select
        staged.*,
        case
            when staged.policy_stage <> 'cap' then staged.policy_stage
            when cap_walk.is_released then 'due'
            when staged.when_capped = 'drop' then 'suppressed'
            else 'deferred'
        end as state,
        case
            when staged.policy_stage <> 'cap' then staged.stage_reason
            when cap_walk.is_released then null
            else 'frequency_cap'
        end as reason,
        case
            when staged.policy_stage = 'cap' and not cap_walk.is_released and staged.when_capped = 'defer'
                then cap_walk.cap_frees_at
            else staged.send_after
        end as decided_send_after,
        case
            when staged.policy_stage = 'cap' and not cap_walk.is_released
                then
                    'capped by ' || cap_walk.binding_caps || ' (journey priority ' || staged.priority || ', '
                    || staged.when_capped || ')'
            when staged.stage_reason = 'journey_paused'
                then
                    'journey ' || staged.journey_id || ' paused by ' || coalesce(staged.paused_by, 'unknown')
                    || ' at ' || strftime(staged.paused_at, '%Y-%m-%d %H:%M') || ' UTC: '
                    || coalesce(staged.pause_reason, 'no reason given') || ' (held until it resumes)'
            when staged.policy_stage = 'deferred' and staged.is_in_quiet_hours
                then
                    'quiet hours for ' || staged.final_channel || ' in ' || staged.time_zone || ': deferred to '
                    || strftime({{ policy_local_time('staged.send_after', 'staged.time_zone') }}, '%Y-%m-%d %H:%M')
                    || ' local'
            when staged.policy_stage = 'deferred' and staged.send_base > staged.base_send_at
                then
                    'send-time optimisation: best local hour ' || staged.best_hour_local || ':00 ('
                    || staged.best_hour_source || '), ' || strftime(
                        {{ policy_local_time('staged.send_after', 'staged.time_zone') }}, '%Y-%m-%d %H:%M'
                    ) || ' local'
            when staged.stage_reason = 'stale'
                then
                    'send time ' || strftime(staged.send_base, '%Y-%m-%d %H:%M') || ' UTC is more than '
                    || staged.max_lateness_hours || 'h before the run (limit for ' || staged.destination || ')'
            else staged.permission_detail
        end as detail
    from staged
    left join cap_walk
        on staged.action_id = cap_walk.action_id

),

changed as (

    -- a due action that is still due, or a held action of a journey still paused, is not written again
    select *
    from evaluated
    where
        not (evaluation = 'due' and state = 'due')
        and not (
            evaluation = 'deferred'
            and previous_reason = 'journey_paused'
            and reason is not distinct from 'journey_paused'
        )

)

select
    md5(action_id || '|' || cast(evaluation_number + 1 as varchar)) as decision_id,
    action_id,
    evaluation_number + 1 as evaluation_number,
    customer_id,
    journey_id,
    node_id,
    action_kind,
    state,
    reason,
    detail,
    final_channel as channel,
    destination,
    purpose,
    priority,
    scheduled_at,
    decided_send_after as send_after,
    {{ journeys_run_id() }} as decided_in_run,
    {{ as_of }} as decided_as_of
from changed
