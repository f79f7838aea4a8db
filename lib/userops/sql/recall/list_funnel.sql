-- grain: one row: who could be on the recall list right after the month ending $as_of
-- definition: from recall_user_stages at $as_of, the candidates of recall_list.sql counted step
--   by step: n_active = buyers not churned; n_at_risk = of them, p_gap_at_least < $at_risk_p;
--   n_churned = churned buyers; n_churned_recent = of them, recency_days <= $max_recency_days;
--   n_candidates = n_at_risk + n_churned_recent; n_cooldown = candidates put in a recall
--   campaign (either arm) in the last $cooldown_days days (as in recall_list.sql).
-- parameters: $as_of (DATE, a month end), $at_risk_p (DOUBLE), $max_recency_days,
--   $cooldown_days (INTEGER)
-- invariants: n_candidates - n_cooldown = the rows of recall_list.sql; n_at_risk <= n_active.
with stages as (
    select * from recall_user_stages where month_end = $as_of and stage <> 'prospect'
),

candidates as (
    select user_id
    from stages
    where
        (stage <> 'churned' and p_gap_at_least < $at_risk_p)
        or (stage = 'churned' and recency_days <= $max_recency_days)
),

recent_members as (
    select distinct m.user_id
    from campaign_members as m
    inner join campaigns as c using (campaign_id)
    where
        c.kind = 'recall'
        and m.assigned_at < cast($as_of as timestamp) + interval 1 day
        and m.assigned_at >= cast($as_of as timestamp) + interval 1 day - to_days(cast($cooldown_days as integer))
)

select
    count(*) filter (where stage <> 'churned') as n_active,
    count(*) filter (where stage <> 'churned' and p_gap_at_least < $at_risk_p) as n_at_risk,
    count(*) filter (where stage = 'churned') as n_churned,
    count(*) filter (where stage = 'churned' and recency_days <= $max_recency_days) as n_churned_recent,
    (select count(*) from candidates) as n_candidates,
    (select count(*) from candidates semi join recent_members using (user_id)) as n_cooldown
from stages
