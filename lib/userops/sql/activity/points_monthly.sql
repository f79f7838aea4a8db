-- grain: one row per month in [$from_date, $to_date)
-- definition: the points ledger per month: issued = sum of positive movements; redeemed =
--   points spent against orders (reason 'redeem', shown positive); expired = points removed by
--   expiry (reason 'expire', positive); other_out = any other negative movement (positive).
--   closing_balance = all movements ever up to the month's end (the points outstanding).
--   Months without movements are zero rows that carry the balance forward.
-- parameters: $from_date, $to_date (DATE, first days of months)
-- invariants: closing_balance = previous closing_balance + issued - redeemed - expired - other_out.
with ledger as (
    select
        cast(date_trunc('month', ts) as date) as month,
        points,
        reason
    from points_ledger
    where ts < $to_date
),

by_month as (
    select
        month,
        coalesce(sum(points) filter (where points > 0), 0) as issued,
        coalesce(-sum(points) filter (where points < 0 and reason = 'redeem'), 0) as redeemed,
        coalesce(-sum(points) filter (where points < 0 and reason = 'expire'), 0) as expired,
        coalesce(-sum(points) filter (where points < 0 and reason not in ('redeem', 'expire')), 0) as other_out,
        sum(points) as net
    from ledger
    group by month
),

opening as (
    select coalesce(sum(net), 0) as balance from by_month where month < $from_date
),

month_spine as (
    select cast(range as date) as month
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

final as (
    select
        s.month,
        coalesce(b.issued, 0) as issued,
        coalesce(b.redeemed, 0) as redeemed,
        coalesce(b.expired, 0) as expired,
        coalesce(b.other_out, 0) as other_out,
        (select balance from opening) + sum(coalesce(b.net, 0)) over (order by s.month) as closing_balance
    from month_spine as s
    left join by_month as b using (month)
)

select * from final
order by month
