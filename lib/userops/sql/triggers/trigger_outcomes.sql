-- grain: one row per member (user) of a trigger campaign
-- definition: members of trigger campaigns (the campaign's original id starts with $prefix:
--   <prefix><YYYY-MM-DD>-<list>, as `userops triggers` writes them) whose outcome window
--   (assigned_at, assigned_at + $window_days days] ends by the end of $as_of (immature campaigns
--   are left out, never shown as 0). list = the id after '<prefix><date>-'. ordered = any order in
--   the window (0/1); orders = orders in the window; gmv = paid GMV in the window; margin = gross
--   margin in the window, where an order's cost of goods is unknown its paid GMV x $assumed_margin_rate (counted in
--   assumed_orders); is_touched = touched_at set; assigned_at = when the arm was drawn.
-- parameters: $prefix (VARCHAR), $window_days (INTEGER), $as_of (DATE, last observed day),
--   $assumed_margin_rate (DOUBLE)
-- invariants: one row per campaign x user; ordered = 1 iff the member has an order in the window.
with members as (
    select
        mc.source_id as campaign_id,
        substr(mc.source_id, length($prefix) + 12) as list,
        c.cost_per_touch,
        m.user_id,
        m.arm,
        m.touched_at is not null as is_touched,
        m.assigned_at,
        m.assigned_at + to_days(cast($window_days as integer)) as window_end
    from campaign_members as m
    inner join campaigns as c using (campaign_id)
    inner join map_campaign_id as mc on mc.campaign_id = m.campaign_id
    where
        starts_with(mc.source_id, $prefix)
        and m.assigned_at + to_days(cast($window_days as integer)) < cast($as_of as timestamp) + interval 1 day
),

window_orders as (
    select
        m.campaign_id,
        m.user_id,
        count(*) as orders,
        sum(o.paid_gmv) as gmv,
        sum(coalesce(o.gross_margin, o.paid_gmv * $assumed_margin_rate)) as margin,
        count(*) filter (where o.gross_margin is null) as assumed_orders
    from members as m
    inner join fct_order_margin as o
        on o.user_id = m.user_id and o.ordered_at > m.assigned_at and o.ordered_at <= m.window_end
    group by all
)

select
    m.campaign_id,
    m.list,
    m.cost_per_touch,
    m.user_id,
    m.arm,
    m.is_touched,
    m.assigned_at,
    cast(w.user_id is not null as integer) as ordered,
    coalesce(w.orders, 0) as orders,
    coalesce(w.gmv, 0) as gmv,
    coalesce(w.margin, 0) as margin,
    coalesce(w.assumed_orders, 0) as assumed_orders
from members as m
left join window_orders as w using (campaign_id, user_id)
order by m.list, m.campaign_id, m.user_id
