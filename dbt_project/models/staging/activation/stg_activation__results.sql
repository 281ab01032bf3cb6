{#-
    What activation did with each action at each destination: the send ledger (source activation_results),
    renamed and categorised. Grain: one row per action per destination. Reads zero rows when activation has
    never run (the ledger table does not exist yet).
-#}
{%- set ledger = load_relation(source('activation', 'activation_results')) if execute else none -%}
with

{% if ledger is not none %}
    results as (

        select * from {{ source('activation', 'activation_results') }}

    ),
{% else %}
    results as (

        select
            cast(null as {{ dbt.type_string() }}) as action_id,
            cast(null as {{ dbt.type_string() }}) as destination,
            cast(null as {{ dbt.type_string() }}) as state,
            cast(null as integer) as attempts,
            cast(null as timestamp) as first_attempt_at,
            cast(null as timestamp) as last_attempt_at,
            cast(null as {{ dbt.type_string() }}) as provider_message_id,
            cast(null as {{ dbt.type_string() }}) as error,
            cast(null as {{ dbt.type_string() }}) as run_id
        where false

    ),
{% endif %}

renamed as (

    select
        action_id || '|' || destination as send_id,
        action_id,
        destination,
        run_id as last_run_id,
        provider_message_id,
        error as error_message,
        state,
        attempts,
        state = 'sent' as is_sent,
        state = 'failed' as is_failed,
        state = 'dead' as is_dead,
        state = 'pending' as is_in_flight,
        first_attempt_at,
        last_attempt_at
    from results

)

select * from renamed
