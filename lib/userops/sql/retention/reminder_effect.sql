-- grain: one row per expiry-reminder campaign x arm (treatment / holdout)
-- definition: members of campaigns of kind 'expiry_reminder' assigned in [$from_date, $to_date)
--   whose reminder window (assigned_at, assigned_at + $hours hours] ends by the end of $as_of.
--   Target coupons of a member: their new-user pack coupons unredeemed at assigned_at and
--   expiring within the window. converted = the member redeemed a target coupon before it
--   expired; orders / gmv = the member's orders in the window (any coupon or none); orders_sq =
--   the sum of squared orders per member (for the variance of orders per member).
--   Randomised arms: treatment minus holdout is the reminder's causal effect.
-- parameters: $from_date, $to_date (DATE), $as_of (DATE, last observed day), $hours (INTEGER)
-- invariants: converted <= members; a member belongs to one arm of a campaign.
with members as (
    select
        m.campaign_id,
        c.name as campaign_name,
        c.channel,
        c.cost_per_touch,
        m.user_id,
        m.arm,
        m.assigned_at,
        m.assigned_at + to_hours($hours) as window_end
    from campaign_members as m
    inner join campaigns as c using (campaign_id)
    where
        c.kind = 'expiry_reminder'
        and m.assigned_at >= $from_date and m.assigned_at < $to_date
        and m.assigned_at + to_hours($hours) < cast($as_of as timestamp) + interval 1 day
),

conversions as (
    select distinct m.campaign_id, m.user_id
    from members as m
    inner join fct_coupons as k on k.user_id = m.user_id
    where
        k.is_new_user_pack
        and k.expires_at > m.assigned_at and k.expires_at <= m.window_end
        and k.redeemed_at > m.assigned_at and k.redeemed_at <= k.expires_at
),

window_orders as (
    select m.campaign_id, m.user_id, count(*) as n_orders, sum(o.gmv) as gmv
    from members as m
    inner join fct_orders as o on o.user_id = m.user_id and o.ordered_at > m.assigned_at and o.ordered_at <= m.window_end
    group by all
),

final as (
    select
        m.campaign_id,
        m.campaign_name,
        m.channel,
        m.cost_per_touch,
        m.arm,
        count(*) as members,
        count(v.user_id) as converted,
        coalesce(sum(w.n_orders), 0) as orders,
        coalesce(sum(w.n_orders * w.n_orders), 0) as orders_sq,
        coalesce(sum(w.gmv), 0) as gmv
    from members as m
    left join conversions as v on v.campaign_id = m.campaign_id and v.user_id = m.user_id
    left join window_orders as w on w.campaign_id = m.campaign_id and w.user_id = m.user_id
    group by all
)

select * from final
order by campaign_id, arm
