-- grain: one row per (trigger campaign, user) in the warehouse assigned in [$from_ts, $to_ts)
-- definition: members of trigger campaigns (campaign_id's original id or the campaign name starts
--   with $prefix) whose assigned_at falls in the window, with the original user and campaign ids;
--   touched = the treatment arm with a touched_at.
-- parameters: $prefix (VARCHAR), $from_ts, $to_ts (TIMESTAMP)
-- invariants: one row per (campaign, user).
select
    mc.source_id as campaign_id,
    mu.source_id as user_id,
    m.arm,
    m.assigned_at,
    m.touched_at
from campaign_members as m
inner join campaigns as c using (campaign_id)
inner join map_campaign_id as mc on mc.campaign_id = m.campaign_id
inner join map_user_id as mu on mu.user_id = m.user_id
where
    (starts_with(mc.source_id, $prefix) or starts_with(c.name, $prefix))
    and m.assigned_at >= $from_ts
    and m.assigned_at < $to_ts
order by campaign_id, user_id
