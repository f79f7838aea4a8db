-- grain: one row per category-reminder campaign member (campaign x user, treatment or holdout)
-- definition: members of campaigns of kind $campaign_kind (category reminders: a notice a few
--   days before the user's expected next purchase in a category) assigned in [$from_date,
--   $to_date) whose window (assigned_at, assigned_at + $window_hours hours] ends by the end of
--   $as_of (sql/campaigns/reminder_members.sql). converted = 1 when the member placed an order
--   in the window (the reminder's aim: bring the next order forward); discount = the discount
--   (orders.discount: coupons and promotions) on the member's window orders; orders / paid_gmv /
--   margin = the member's window orders on the money basis of fct_order_margin: paid GMV net of
--   discounts, gross margin = paid GMV - cost of goods, or paid GMV x $assumed_margin_rate where
--   the order's cost of goods is unknown (counted in assumed_orders). Arms are randomised within
--   a campaign, so a campaign's treatment minus holdout is the reminder's causal effect.
--   Money derived from these rows (campaigns.category_reminder_effect), per campaign with treated
--   members n1: incremental X (buyers, orders, margin) = n1 x (mean X treated - mean X holdout);
--   anyway discount = n1 x holdout buyer rate x mean discount per treated buyer (the discount
--   given on orders that would have happened without the reminder: inside paid GMV in both arms,
--   so shown but never counted as a cost); touch cost = n1 x cost_per_touch (+ params
--   experiments.campaign_fixed_cost), once per campaign.
-- parameters: $campaign_kind (VARCHAR), $from_date, $to_date (DATE), $as_of (DATE, last observed
--   day), $window_hours (INTEGER), $assumed_margin_rate (DOUBLE)
-- invariants: one row per (campaign_id, user_id); converted = 1 exactly when orders > 0;
--   assumed_orders <= orders; discount = 0 when orders = 0.
with members as (  -- the one member definition, shared with coupon_reminder_effect.sql
    select *
    from (
        -- include: campaigns/reminder_members
    )
),

window_orders as (
    select
        m.campaign_id,
        m.user_id,
        count(*) as n_orders,
        sum(coalesce(f.discount, 0)) as discount,
        sum(o.paid_gmv) as paid_gmv,
        sum(coalesce(o.gross_margin, o.paid_gmv * $assumed_margin_rate)) as margin,
        count(*) filter (where not o.cost_known) as assumed_orders
    from members as m
    inner join fct_order_margin as o
        on o.user_id = m.user_id and o.ordered_at > m.assigned_at and o.ordered_at <= m.window_end
    inner join fct_orders as f on f.order_id = o.order_id
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
        cast(w.user_id is not null as integer) as converted,
        cast(coalesce(w.discount, 0) as double) as discount,
        coalesce(w.n_orders, 0) as orders,
        cast(coalesce(w.paid_gmv, 0) as double) as paid_gmv,
        cast(coalesce(w.margin, 0) as double) as margin,
        coalesce(w.assumed_orders, 0) as assumed_orders
    from members as m
    left join window_orders as w on w.campaign_id = m.campaign_id and w.user_id = m.user_id
)

select * from final
order by campaign_id, arm, user_id
