{#-
    The foundation's single hard-wired activation rule, until the journey engine decides actions:
    a welcome email to each customer who signed up in the last journeys__welcome_signup_window_days
    before as_of, has an email address and whose latest email/marketing consent at as_of is opted_in.

    Decisions are never rewritten: an incremental run only appends actions it has not decided yet.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

consent_events as (

    select * from {{ ref('stg_raw__consent_events') }}

),

email_marketing_consent_at_as_of as (

    select
        customer_id,
        consent_status
    from consent_events
    where
        channel = 'email'
        and purpose = 'marketing'
        and occurred_at <= {{ as_of_timestamp() }}
    qualify row_number() over (
        partition by customer_id
        order by occurred_at desc, consent_event_id desc
    ) = 1

),

recent_signups_with_consent as (

    select
        customers.customer_id,
        customers.first_name,
        customers.email,
        customers.time_zone,
        customers.signed_up_at
    from customers
    inner join email_marketing_consent_at_as_of
        on customers.customer_id = email_marketing_consent_at_as_of.customer_id
    where
        email_marketing_consent_at_as_of.consent_status = 'opted_in'
        and customers.email is not null
        and customers.signed_up_at <= {{ as_of_timestamp() }}
        and customers.signed_up_at > {{ as_of_timestamp() }}
        - interval '{{ var("journeys__welcome_signup_window_days") }} days'

),

welcome_actions as (

    select
        md5('foundation_welcome_email|' || customer_id) as action_id,
        customer_id,
        'foundation_welcome_email' as action_name,
        'email' as channel,
        'welcome_v1' as template_name,
        email,
        first_name,
        time_zone,
        '{{ var("run_id") }}' as decided_in_run,
        signed_up_at,
        {{ as_of_timestamp() }} as decided_at
    from recent_signups_with_consent

),

not_yet_decided as (

    select welcome_actions.*
    from welcome_actions
    {% if is_incremental() %}
        left join {{ this }} as decided
            on welcome_actions.action_id = decided.action_id
        where decided.action_id is null
    {% endif %}

)

select * from not_yet_decided
