-- grain: one row per redemption lag in whole days (0, 1, 2, ...)
-- definition: how long points wait before they are redeemed: with first-in, first-out spending
--   (as in points_fifo.sql), every redeemed point is matched to the issue it came from; lag_days
--   = calendar days from that issue to the redemption. points = redeemed points with that lag,
--   for redemptions in [$from_date, $to_date) (issues of any earlier date).
-- parameters: $from_date, $to_date (DATE)
-- invariants: sum(points) = the points redeemed in the range; lag_days >= 0 in well-formed data.
with ledger as (
    select * from points_ledger where ts < $to_date
),

issues as (
    select
        user_id,
        ts,
        points,
        sum(points) over (partition by user_id order by ts, reason, points rows unbounded preceding) as hi
    from ledger
    where points > 0
),

spends as (
    select
        user_id,
        ts,
        -points as points,
        reason,
        sum(-points) over (partition by user_id order by ts, reason, points rows unbounded preceding) as hi
    from ledger
    where points < 0
),

allocated as (
    select
        date_diff('day', cast(i.ts as date), cast(s.ts as date)) as lag_days,
        least(i.hi, s.hi) - greatest(i.hi - i.points, s.hi - s.points) as points
    from spends as s
    inner join issues as i
        on i.user_id = s.user_id and s.hi - s.points < i.hi and i.hi - i.points < s.hi
    where s.reason = 'redeem' and s.ts >= $from_date
),

final as (
    select lag_days, sum(points) as points
    from allocated
    group by lag_days
)

select * from final
order by lag_days
