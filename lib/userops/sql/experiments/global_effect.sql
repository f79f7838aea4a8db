-- grain: one row per arm of the global holdout (global_holdout / touchable)
-- definition: the cumulative effect of every CRM touch, measured against the persistent global
--   control group. Population: users with an order in the $window_months months before
--   $from_date (the base a CRM can address). Outcomes per user over [$from_date, $to_date):
--   orders, paid GMV and gross margin on the money basis of fct_order_margin (where an order's
--   cost of goods is unknown: paid GMV x $assumed_margin_rate, counted in assumed_margin_orders).
--   Sums and sums of squares per arm give Welch intervals without per-user rows leaving SQL.
-- parameters: $salt (VARCHAR), $share (DOUBLE), $from_date, $to_date (DATE),
--   $window_months (INTEGER), $assumed_margin_rate (DOUBLE)
-- invariants: users = users_global_holdout + users_touchable over both rows; buyers <= users.
with assignment as (  -- the one definition: sql/experiments/global_holdout.sql
    select user_id, in_global_holdout
    from (
        -- include: experiments/global_holdout
    )
),

population as (
    select distinct user_id
    from fct_orders
    where
        ordered_at >= cast($from_date as timestamp) - to_months($window_months)
        and ordered_at < cast($from_date as timestamp)
),

month_orders as (
    select
        user_id,
        paid_gmv as gmv,
        coalesce(gross_margin, paid_gmv * $assumed_margin_rate) as margin,
        not cost_known as margin_assumed
    from fct_order_margin
    where ordered_at >= $from_date and ordered_at < $to_date
),

per_user as (
    select
        p.user_id,
        a.in_global_holdout,
        count(m.user_id) as orders,
        coalesce(sum(m.gmv), 0) as gmv,
        coalesce(sum(m.margin), 0) as margin,
        count(*) filter (where m.margin_assumed) as assumed_margin_orders
    from population as p
    inner join assignment as a using (user_id)
    left join month_orders as m using (user_id)
    group by p.user_id, a.in_global_holdout
)

select
    case when in_global_holdout then 'global_holdout' else 'touchable' end as arm,
    count(*) as users,
    count(*) filter (where orders > 0) as buyers,
    sum(orders) as orders,
    sum(orders * orders) as orders_sq,
    cast(sum(gmv) as double) as gmv,
    cast(sum(gmv * gmv) as double) as gmv_sq,
    cast(sum(margin) as double) as margin,
    cast(sum(margin * margin) as double) as margin_sq,
    sum(assumed_margin_orders) as assumed_margin_orders
from per_user
group by all
order by arm
