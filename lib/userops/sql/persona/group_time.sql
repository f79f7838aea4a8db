-- grain: one row per dimension x group (of persona_groups) x weekday (1 = Monday .. 7) x hour (0-23)
-- definition: when each group of users orders over the window [$from_date, $to_date): orders
--   by ISO weekday and hour of day of ordered_at (local store time), zero-filled on the full
--   7 x 24 spine. persona_groups(user_id, dimension, grp) is registered by the caller.
-- parameters: $from_date, $to_date (DATE, half-open window)
-- invariants: 168 rows per dimension x grp; summed, orders equal the group's orders in the window.
with grp as (
    select user_id, dimension, grp from persona_groups
),

-- each user's orders per weekday x hour first: a user is in one group per dimension, so the
-- groups' join reads one row per user x weekday x hour instead of every order once per dimension
user_orders as (
    select user_id, isodow(ordered_at) as weekday, extract(hour from ordered_at) as hour, count(*) as orders
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
    group by all
),

counted as (
    select g.dimension, g.grp, o.weekday, o.hour, cast(sum(o.orders) as bigint) as orders
    from grp as g
    inner join user_orders as o using (user_id)
    group by all
),

-- the groups first, then their 7 x 24 grid (not every user's grid made distinct)
spine as (
    select g.dimension, g.grp, cast(w.range as bigint) as weekday, cast(h.range as bigint) as hour
    from (select distinct dimension, grp from grp) as g
    cross join range(1, 8) as w
    cross join range(0, 24) as h
),

final as (
    select s.dimension, s.grp, s.weekday, s.hour, coalesce(c.orders, 0) as orders
    from spine as s
    left join counted as c using (dimension, grp, weekday, hour)
)

select * from final
order by dimension, grp, weekday, hour
