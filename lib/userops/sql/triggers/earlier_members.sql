-- grain: one row per (campaign, user) that the contact plan must respect on the send day $to_ts
-- definition: (a) members of trigger campaigns (the campaign's original id or name starts with
--   $prefix) assigned in [$from_ts, $to_ts): their touches count towards the caps and their
--   holdouts are kept untouched; (b) holdout members of any other campaign still running at $to_ts
--   (assigned before $to_ts and ended_at >= $to_ts): touching them would contaminate that
--   campaign's holdout. Original user and campaign ids; is_trigger tells the two apart.
-- parameters: $prefix (VARCHAR), $from_ts, $to_ts (TIMESTAMP)
-- invariants: one row per (campaign, user); non-trigger rows are holdout rows.
with members as (
    select
        mc.source_id as campaign_id,
        mu.source_id as user_id,
        m.arm,
        m.assigned_at,
        m.touched_at,
        c.ended_at,
        starts_with(mc.source_id, $prefix) or starts_with(c.name, $prefix) as is_trigger
    from campaign_members as m
    inner join campaigns as c using (campaign_id)
    inner join map_campaign_id as mc on mc.campaign_id = m.campaign_id
    inner join map_user_id as mu on mu.user_id = m.user_id
    where m.assigned_at < $to_ts
)

select campaign_id, user_id, arm, assigned_at, touched_at, is_trigger
from members
where
    (is_trigger and assigned_at >= $from_ts)
    or (not is_trigger and arm = 'holdout' and ended_at >= $to_ts)
order by campaign_id, user_id
