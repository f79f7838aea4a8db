-- grain: one row per reminder campaign x arm (treatment / holdout)
-- definition: members of campaigns of kind $campaign_kind (e.g. 'expiry_reminder' for the
--   new-user pack, 'repurchase_reminder' for unused repurchase coupons) assigned in
--   [$from_date, $to_date) whose window (assigned_at, assigned_at + $window_hours hours] ends
--   by the end of $as_of. converted = the member redeemed, inside the window and before it
--   expired, a coupon of a kind in $coupon_kinds that was issued by assigned_at and still
--   unredeemed at assigned_at. orders / gmv = the member's orders in the window (any coupon or
--   none); orders_sq = the sum of squared orders per member (for the variance of orders per
--   member). Arms are randomised, so treatment minus holdout is the reminder's causal effect.
-- parameters: $campaign_kind (VARCHAR), $coupon_kinds (VARCHAR[]), $from_date, $to_date (DATE),
--   $as_of (DATE, last observed day), $window_hours (INTEGER)
-- invariants: converted <= members; a member belongs to one arm of a campaign.
with members as (
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
),

conversions as (
    select distinct m.campaign_id, m.user_id
    from members as m
    inner join fct_coupons as k on k.user_id = m.user_id
    where
        list_contains($coupon_kinds, k.kind)
        and k.issued_at <= m.assigned_at
        and k.redeemed_at > m.assigned_at
        and k.redeemed_at <= least(k.expires_at, m.window_end)
),

window_orders as (
    select m.campaign_id, m.user_id, count(*) as n_orders, sum(o.gmv) as gmv
    from members as m
    inner join fct_orders as o
        on o.user_id = m.user_id and o.ordered_at > m.assigned_at and o.ordered_at <= m.window_end
    group by all
),

final as (
    select
        m.campaign_id,
        m.campaign_name,
        m.campaign_month,
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
