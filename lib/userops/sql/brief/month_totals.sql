-- grain: one row per month starting in [$from_date, $to_date), zero-filled.
-- definition: the month's paid orders straight from fct_orders, without any user grouping:
--   orders, buyers (distinct users with an order) and gmv (paid, yuan). The reference that the
--   operating matrix must reconcile with.
-- parameters: $from_date, $to_date (DATE, first days of months, half-open)
-- invariants: buyers <= orders; equals the sums over the operating matrix's three groups.
with month_spine as (
    select cast(range as date) as month_start
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

orders as (
    select user_id, gmv, cast(date_trunc('month', order_date) as date) as month_start
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

per_month as (
    select month_start, count(*) as orders, count(distinct user_id) as buyers, sum(gmv) as gmv
    from orders
    group by month_start
),

final as (
    select
        s.month_start,
        coalesce(p.orders, 0) as orders,
        coalesce(p.buyers, 0) as buyers,
        cast(coalesce(p.gmv, 0) as decimal(18, 2)) as gmv
    from month_spine as s
    left join per_month as p using (month_start)
)

select * from final
order by month_start
