{#-
    The events journeys read: product events of resolved customers (stitched across anonymous ids), up to as_of.
-#}
with

stitched_events as (

    select * from {{ ref('customer_event_stream') }}

),

known_by_as_of as (

    -- every column: journey files filter on any documented event field
    select *
    from stitched_events
    where
        customer_id is not null
        and occurred_at <= {{ as_of_timestamp() }}

)

select * from known_by_as_of  -- noqa: AM04
