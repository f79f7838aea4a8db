-- grain: one row per member (user) of a recall campaign
-- definition: members of campaigns of kind 'recall' assigned in [$from_date, $to_date) whose
--   reactivation window (assigned_at, assigned_at + $window_days days] ends by the end of
--   $as_of (immature campaigns are left out, never shown as 0). reactivated = any order in the
--   window; orders / gmv = the member's orders and paid GMV in the window (net of discounts: a
--   redeemed recall coupon is already inside it); margin = their gross margin on the money basis
--   of fct_order_margin (paid GMV - cost of goods; where an order's cost of goods is unknown,
--   paid GMV x $assumed_margin_rate, counted in assumed_orders); is_touched = touched_at
--   set (treatment actually sent); coupons_redeemed / face_redeemed = the campaign's coupons of a
--   recall kind ($recall_kinds) the member redeemed within validity. Arms are randomised:
--   treatment minus holdout is the campaign's effect.
-- parameters: $from_date, $to_date (DATE), $as_of (DATE, last observed day), $window_days (INTEGER),
--   $recall_kinds (VARCHAR[], coupon kinds given in recall campaigns: params data.recall_coupon_kinds),
--   $assumed_margin_rate (DOUBLE, params experiments.assumed_margin_rate)
-- invariants: one row per campaign x user; holdout members are never touched and hold no
--   coupon of the campaign; reactivated iff orders > 0; assumed_orders <= orders.
with members as (
    select
        m.campaign_id,
        c.name as campaign_name,
        c.channel,
        c.started_at,
        c.cost_per_touch,
        m.user_id,
        m.arm,
        m.assigned_at,
        m.touched_at,
        m.assigned_at + to_days(cast($window_days as integer)) as window_end
    from campaign_members as m
    inner join campaigns as c using (campaign_id)
    where
        c.kind = 'recall'
        and m.assigned_at >= $from_date and m.assigned_at < $to_date
        and m.assigned_at + to_days(cast($window_days as integer)) < cast($as_of as timestamp) + interval 1 day
),

window_orders as (
    select
        m.campaign_id,
        m.user_id,
        count(*) as n_orders,
        sum(g.paid_gmv) as gmv,
        sum(coalesce(g.gross_margin, g.paid_gmv * $assumed_margin_rate)) as margin,
        count(*) filter (where not g.cost_known) as assumed_orders
    from members as m
    inner join fct_orders as o
        on o.user_id = m.user_id and o.ordered_at > m.assigned_at and o.ordered_at <= m.window_end
    inner join fct_order_margin as g on g.order_id = o.order_id
    group by all
),

redeemed as (
    select
        campaign_id,
        user_id,
        count(*) as coupons_redeemed,
        sum(face_value) as face_redeemed
    from fct_coupons
    where list_contains($recall_kinds, kind) and campaign_id is not null and redeemed_within_validity
    group by all
),

final as (
    select
        m.campaign_id,
        m.campaign_name,
        m.channel,
        m.started_at,
        m.cost_per_touch,
        m.user_id,
        m.arm,
        m.assigned_at,
        m.touched_at is not null as is_touched,
        coalesce(w.n_orders, 0) > 0 as reactivated,
        coalesce(w.n_orders, 0) as orders,
        coalesce(w.gmv, 0) as gmv,
        coalesce(w.margin, 0) as margin,
        coalesce(w.assumed_orders, 0) as assumed_orders,
        coalesce(r.coupons_redeemed, 0) as coupons_redeemed,
        coalesce(r.face_redeemed, 0) as face_redeemed
    from members as m
    left join window_orders as w on w.campaign_id = m.campaign_id and w.user_id = m.user_id
    left join redeemed as r on r.campaign_id = m.campaign_id and r.user_id = m.user_id
)

select * from final
order by campaign_id, user_id
