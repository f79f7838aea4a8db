-- grain: one row per reminder campaign member (campaign x user, treatment or holdout)
-- definition: members of campaigns of kind $campaign_kind assigned in [$from_date, $to_date)
--   whose outcome window (assigned_at, assigned_at + $window_hours hours] ends by the end of
--   $as_of (the last observed day), with the campaign's name, month, channel and cost per touch.
--   Shared by the reminder effects (coupon_reminder_effect.sql, category_reminder_effect.sql).
-- parameters: $campaign_kind (VARCHAR), $from_date, $to_date (DATE), $as_of (DATE),
--   $window_hours (INTEGER)
-- invariants: one row per (campaign_id, user_id); window_end <= the end of $as_of.
select
    m.campaign_id,
    c.name as campaign_name,
    cast(date_trunc('month', c.started_at) as date) as campaign_month,
    c.channel,
    c.cost_per_touch,
    m.user_id,
    m.arm,
    m.assigned_at,
    m.assigned_at + to_hours($window_hours) as window_end
from campaign_members as m
inner join campaigns as c using (campaign_id)
where
    c.kind = $campaign_kind
    and m.assigned_at >= $from_date and m.assigned_at < $to_date
    and m.assigned_at + to_hours($window_hours) < cast($as_of as timestamp) + interval 1 day
