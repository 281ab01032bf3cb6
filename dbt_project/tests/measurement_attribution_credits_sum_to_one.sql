-- Every rule-based model splits each conversion in the window exactly once: its credits sum to 1.
select
    conversion_id,
    attribution_model,
    sum(credit) as total_credit
from {{ ref('int_attribution_rule_based_credits') }}
group by conversion_id, attribution_model
having abs(sum(credit) - 1) > 1e-9
