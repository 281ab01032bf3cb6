{#-
    Customers whose data must be erased and who must never be messaged again: one row per customer_id.

    Two sources, because executing a request removes its raw and staging rows (they hold the email):
    - requests not executed yet, from stg_raw__erasure_requests, resolved by customer_id or by the normalised
      email through the identity graph (customer_identities; an ambiguous email resolves nobody);
    - requests already executed, from the tombstones in audit.erasures (written by orchestration/erasure.py
      after dbt; landing creates it empty, so it exists before the first build). A mart reading a source
      (staging reads every other source): the tombstones are an operational table the project writes itself,
      with nothing to rename or type.
    A customer with several requests keeps the earliest (then the smallest request_id).
-#}
with

requests as (

    select * from {{ ref('stg_raw__erasure_requests') }}

),

identities as (

    select * from {{ ref('customer_identities') }}

),

requests_by_customer_id as (

    select
        customer_id,
        request_id,
        requested_by,
        requested_at
    from requests
    where customer_id is not null

),

requests_by_email as (

    select
        identities.customer_id,
        requests.request_id,
        requests.requested_by,
        requests.requested_at
    from requests
    inner join identities
        on
            identities.identifier_type = 'email'
            and requests.email = identities.identifier_value
    where
        requests.email is not null
        and identities.customer_id is not null
        and not identities.is_ambiguous

),

executed_requests as (

    select
        customer_id,
        request_id,
        requested_by,
        requested_at
    from {{ source('audit', 'erasures') }}
    where customer_id is not null

),

all_requests as (

    select * from requests_by_customer_id
    union all
    select * from requests_by_email
    union all
    select * from executed_requests

),

first_request_per_customer as (

    select
        customer_id,
        request_id,
        requested_by,
        requested_at
    from all_requests
    qualify row_number() over (partition by customer_id order by requested_at, request_id) = 1

)

select
    customer_id,
    request_id,
    requested_by,
    requested_at
from first_request_per_customer
