-- grain: one row per member (campaign x user) of a recall campaign assigned in [$from_date, $to_date)
-- definition: the member's lifecycle stage at the last month end before the assignment (from
--   recall_user_stages, the table built by userops.recall.build_stages): the stage the recall list
--   uses for its own users, so that a lift measured on members of a stage can be applied to list
--   users of the same stage. Members assigned before the stages' first month end have no row.
-- parameters: $from_date, $to_date (DATE)
-- invariants: at most one row per campaign x user; stage in (new, growth, mature, declining,
--   churned) or 'prospect' (a member who had not ordered).
select
    m.campaign_id,
    m.user_id,
    s.stage as stage_at_assignment
from campaign_members as m
inner join campaigns as c using (campaign_id)
inner join recall_user_stages as s
    on s.user_id = m.user_id and s.month_end = cast(date_trunc('month', m.assigned_at) as date) - 1
where c.kind = 'recall' and m.assigned_at >= $from_date and m.assigned_at < $to_date
order by m.campaign_id, m.user_id
