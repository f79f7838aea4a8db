-- grain: one row per dimension x group (of persona_groups) x order channel
-- definition: where each group of users orders over the window [$from_date, $to_date): orders
--   and paid GMV (yuan) per order_channel (the chain's own values), zero-filled
--   against the order channels seen in the window. persona_groups(user_id, dimension, grp) is
--   registered by the caller (userops.persona).
-- parameters: $from_date, $to_date (DATE, half-open window)
-- invariants: one row per dimension x grp x order_channel; summed over channels, orders equal the
--   group's orders in the window.
with grp as (
    select user_id, dimension, grp from persona_groups
),

orders as (
    select user_id, order_channel, cast(gmv as double) as gmv
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

counted as (
    select g.dimension, g.grp, o.order_channel, count(*) as orders, sum(o.gmv) as gmv
    from grp as g
    inner join orders as o using (user_id)
    group by all
),

-- the groups first, then their channels (not every user's channels made distinct)
spine as (
    select g.dimension, g.grp, c.order_channel
    from (select distinct dimension, grp from grp) as g
    cross join (select distinct order_channel from orders) as c
),

final as (
    select
        s.dimension,
        s.grp,
        s.order_channel,
        coalesce(c.orders, 0) as orders,
        coalesce(c.gmv, 0) as gmv
    from spine as s
    left join counted as c using (dimension, grp, order_channel)
)

select * from final
order by dimension, grp, order_channel
