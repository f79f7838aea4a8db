-- grain: one row per month x reason
-- definition: points movements in [$from_date, $to_date) per ledger reason (browse_40s,
--   three_orders_day, share_card, checkin, order, task, redeem, expire, ...): points = the sum
--   of movements (+ issued, - redeemed or expired), movements and distinct users. Zero-filled
--   for every month and every reason seen in the ledger.
-- parameters: $from_date, $to_date (DATE, first days of months)
-- invariants: sum(points) over reasons = the month's net movement in points_monthly.sql.
with ledger as (
    select cast(date_trunc('month', ts) as date) as month, user_id, points, reason
    from points_ledger
    where ts >= $from_date and ts < $to_date
),

counts as (
    select month, reason, sum(points) as points, count(*) as movements, count(distinct user_id) as users
    from ledger
    group by all
),

month_spine as (
    select cast(range as date) as month
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

reason_spine as (
    select distinct reason from points_ledger
),

final as (
    select
        m.month,
        r.reason,
        coalesce(c.points, 0) as points,
        coalesce(c.movements, 0) as movements,
        coalesce(c.users, 0) as users
    from month_spine as m
    cross join reason_spine as r
    left join counts as c using (month, reason)
)

select * from final
order by month, reason
