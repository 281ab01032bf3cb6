{#-
    Two CTEs, for a model's WITH list: last_step_numbers, and `name`, the last step of each enrollment in the
    CTE `transitions` (its row with the greatest step_number). A join on that number, not QUALIFY, which Spark SQL
    does not have. Used by journey_transitions (the steps of earlier runs), journey_enrollments, journey_positions.
-#}
{% macro journey_last_steps(name, transitions='transitions') -%}
last_step_numbers as (

    select
        enrollment_id,
        max(step_number) as last_step_number
    from {{ transitions }}
    group by enrollment_id

),

{{ name }} as (

    select {{ transitions }}.*
    from {{ transitions }}
    inner join last_step_numbers
        on
            {{ transitions }}.enrollment_id = last_step_numbers.enrollment_id
            and {{ transitions }}.step_number = last_step_numbers.last_step_number

)
{%- endmacro %}
