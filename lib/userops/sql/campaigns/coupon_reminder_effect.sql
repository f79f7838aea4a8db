-- grain: one row per reminder campaign member (campaign x user, treatment or holdout)
-- definition: members of campaigns of kind $campaign_kind (e.g. 'expiry_reminder' for the
--   new-user pack, 'repurchase_reminder' for unused repurchase coupons) assigned in
--   [$from_date, $to_date) whose window (assigned_at, assigned_at + $window_hours hours] ends
--   by the end of $as_of. converted = 1 when the member redeemed, inside the window and before it
--   expired, a coupon of a kind in $coupon_kinds that was issued by assigned_at and still
--   unredeemed at assigned_at; discount = the face value of those redeemed coupons (the coupon
--   discount the member was given). orders / paid_gmv / margin = the member's orders in the window
--   (any coupon or none) on the money basis of fct_order_margin: paid GMV net of discounts, gross
--   margin = paid GMV - cost of goods, or paid GMV x $assumed_margin_rate where the order's cost
--   of goods is unknown (counted in assumed_orders). Arms are randomised within a campaign, so
--   a campaign's treatment minus holdout is the reminder's causal effect.
--   Money derived from these rows (campaigns.coupon_reminder_effect), per campaign c with treated
--   members n1, holdout members n0 and arm means:
--     incremental X (redemptions, orders, margin) = n1 x (mean X treated - mean X holdout);
--     expected non-incremental redemptions = n1 x holdout redemption rate (redemptions the reminded
--       members would have made anyway); anyway discount = that x the mean discount per treated
--       redemption (coupon discount given on orders that would have happened without the reminder;
--       it is inside paid GMV in both arms, so it is shown but never counted as a reminder cost);
--     touch cost = n1 x cost_per_touch (+ params experiments.campaign_fixed_cost), once per campaign.
-- parameters: $campaign_kind (VARCHAR), $coupon_kinds (VARCHAR[]), $from_date, $to_date (DATE),
--   $as_of (DATE, last observed day), $window_hours (INTEGER), $assumed_margin_rate (DOUBLE)
-- invariants: one row per (campaign_id, user_id); converted in {0, 1}; discount = 0 when not
--   converted; assumed_orders <= orders.
with members as (  -- the one member definition, shared with category_reminder_effect.sql
    select *
    from (
        -- include: campaigns/reminder_members
    )
),

conversions as (
    select m.campaign_id, m.user_id, sum(k.face_value) as discount
    from members as m
    inner join fct_coupons as k on k.user_id = m.user_id
    where
        list_contains($coupon_kinds, k.kind)
        and k.issued_at <= m.assigned_at
        and k.redeemed_at > m.assigned_at
        and k.redeemed_at <= least(k.expires_at, m.window_end)
    group by all
),

window_orders as (
    select
        m.campaign_id,
        m.user_id,
        count(*) as n_orders,
        sum(o.paid_gmv) as paid_gmv,
        sum(coalesce(o.gross_margin, o.paid_gmv * $assumed_margin_rate)) as margin,
        count(*) filter (where not o.cost_known) as assumed_orders
    from members as m
    inner join fct_order_margin as o
        on o.user_id = m.user_id and o.ordered_at > m.assigned_at and o.ordered_at <= m.window_end
    group by all
),

final as (
    select
        m.campaign_id,
        m.campaign_name,
        m.campaign_month,
        m.channel,
        cast(m.cost_per_touch as double) as cost_per_touch,
        m.user_id,
        m.arm,
        cast(v.user_id is not null as integer) as converted,
        cast(coalesce(v.discount, 0) as double) as discount,
        coalesce(w.n_orders, 0) as orders,
        cast(coalesce(w.paid_gmv, 0) as double) as paid_gmv,
        cast(coalesce(w.margin, 0) as double) as margin,
        coalesce(w.assumed_orders, 0) as assumed_orders
    from members as m
    left join conversions as v on v.campaign_id = m.campaign_id and v.user_id = m.user_id
    left join window_orders as w on w.campaign_id = m.campaign_id and w.user_id = m.user_id
)

select * from final
order by campaign_id, arm, user_id
