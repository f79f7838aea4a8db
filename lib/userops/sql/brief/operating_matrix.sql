-- grain: one row per month x user group (new, returning, dormant), months starting in
--   [$from_date, $to_date); zero-filled (a group without users is a row of zeros).
-- definition: a user's group in a month is their lifecycle stage at the previous month end, from
--   recall_user_stages (play 04's rule, stated once in recall/user_stages.sql; built for these
--   months by recall.build_stages): new = no order before the month (stage_prev 'prospect':
--   registered users who have never bought, incl. users registering in the month); dormant =
--   churned at the previous month end; returning = every other buyer (new, growth, mature or
--   declining at the previous month end). reactivated = users with is_reactivated (the dormant
--   group's buyers: the one reactivation definition, user_stages.sql). base_users = the group's
--   eligible users (registered or with an order before the month end). visitors = users of the
--   group with a `visit` event in the month or an order in the month (an in-store purchase is a
--   store visit; 0 rows of visit events leave only the buyers). buyers = users with >= 1 order in
--   the month; orders and gmv (paid, yuan) = their orders in the month. GMV = traffic x (buyers /
--   traffic) x (orders / buyers) x (gmv / orders) for either traffic column.
-- parameters: $from_date, $to_date (DATE, first days of months, half-open)
-- invariants: buyers <= visitors <= base_users; buyers <= orders; the three groups' orders and gmv
--   sum to the month's orders and gmv in fct_orders (every order belongs to exactly one group);
--   reactivated = buyers of the dormant group, 0 in the other groups.
with month_spine as (
    select
        cast(range as date) as month_start,
        cast(range + interval 1 month as date) as month_end
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

group_spine as (
    select * from (values ('new', 1), ('returning', 2), ('dormant', 3)) as t (user_group, group_order)
),

visits as (
    select distinct
        user_id,
        cast(date_trunc('month', ts) as date) as month_start
    from events
    where event = 'visit' and ts >= $from_date and ts < cast($to_date as date) + interval 1 month
),

grouped as (
    -- every user known by the month end, once per month, grouped by the stage at the previous month end
    select
        s.user_id,
        m.month_start,
        m.month_end,
        s.is_reactivated,
        case
            when s.stage_prev = 'prospect' then 'new'
            when s.stage_prev = 'churned' then 'dormant'
            else 'returning'
        end as user_group
    from month_spine as m
    inner join recall_user_stages as s on s.month_start = m.month_start
),

orders as (
    select user_id, order_date, gmv from fct_orders
),

month_orders as (
    select
        g.user_id,
        g.month_start,
        count(*) as n_orders,
        sum(o.gmv) as gmv
    from grouped as g
    inner join orders as o
        on o.user_id = g.user_id and o.order_date >= g.month_start and o.order_date < g.month_end
    group by all
),

user_facts as (
    select
        g.month_start,
        g.user_group,
        g.user_id,
        coalesce(mo.n_orders, 0) as n_orders,
        coalesce(mo.gmv, 0) as gmv,
        g.is_reactivated,
        v.user_id is not null or mo.user_id is not null as is_visitor
    from grouped as g
    left join month_orders as mo on mo.user_id = g.user_id and mo.month_start = g.month_start
    left join visits as v on v.user_id = g.user_id and v.month_start = g.month_start
),

cells as (
    select
        month_start,
        user_group,
        count(*) as base_users,
        count(*) filter (where is_visitor) as visitors,
        count(*) filter (where n_orders > 0) as buyers,
        count(*) filter (where is_reactivated) as reactivated,
        sum(n_orders) as orders,
        sum(gmv) as gmv
    from user_facts
    group by all
),

final as (
    select
        m.month_start,
        s.user_group,
        s.group_order,
        coalesce(c.base_users, 0) as base_users,
        coalesce(c.visitors, 0) as visitors,
        coalesce(c.buyers, 0) as buyers,
        coalesce(c.reactivated, 0) as reactivated,
        cast(coalesce(c.orders, 0) as bigint) as orders,
        cast(coalesce(c.gmv, 0) as decimal(18, 2)) as gmv
    from month_spine as m
    cross join group_spine as s
    left join cells as c on c.month_start = m.month_start and c.user_group = s.user_group
)

select * from final
order by month_start, group_order
