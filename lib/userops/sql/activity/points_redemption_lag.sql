-- grain: one row per redemption lag in whole days (0, 1, 2, ...)
-- definition: how long points wait before they are redeemed: with first-in, first-out spending
--   (fct_points_allocation, built at load), every redeemed point is matched to the issue it came from; lag_days
--   = calendar days from that issue to the redemption. points = redeemed points with that lag,
--   for redemptions in [$from_date, $to_date) (issues of any earlier date).
-- parameters: $from_date, $to_date (DATE)
-- invariants: sum(points) = the points redeemed in the range; lag_days >= 0 in well-formed data.
with allocated as (
    select
        date_diff('day', cast(issued_at as date), cast(spent_at as date)) as lag_days,
        points
    from fct_points_allocation
    where spend_reason = 'redeem' and spent_at >= $from_date and spent_at < $to_date
),

final as (
    select lag_days, sum(points) as points
    from allocated
    group by lag_days
)

select * from final
order by lag_days
