-- grain: one row per issue month (months with points issued up to $as_of)
-- definition: points are spent first-in, first-out: each user's negative movements up to the
--   end of $as_of (redeem, expire, other) consume that user's earliest issued points first
--   (issues ordered by ts, then reason, then points). For the points issued in a month:
--   redeemed / expired / other_out = the points of that month consumed by redemptions, expiry
--   or other removals by $as_of; outstanding = issued minus all of those (still held).
--   Breakage of an issue month = (expired + outstanding) / issued once the month is old enough.
-- parameters: $as_of (DATE, last observed day)
-- invariants: redeemed + expired + other_out + outstanding = issued; outstanding summed over
--   months = the closing balance of points_monthly.sql at $as_of.
with ledger as (
    select * from points_ledger where ts < cast($as_of as timestamp) + interval 1 day
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
    -- the overlap of an issue's slice (hi - points, hi] with a spend's slice
    select
        i.ts as issued_at,
        s.reason,
        least(i.hi, s.hi) - greatest(i.hi - i.points, s.hi - s.points) as points
    from issues as i
    inner join spends as s
        on s.user_id = i.user_id and s.hi - s.points < i.hi and i.hi - i.points < s.hi
),

consumed as (
    select
        cast(date_trunc('month', issued_at) as date) as issue_month,
        coalesce(sum(points) filter (where reason = 'redeem'), 0) as redeemed,
        coalesce(sum(points) filter (where reason = 'expire'), 0) as expired,
        coalesce(sum(points) filter (where reason not in ('redeem', 'expire')), 0) as other_out
    from allocated
    group by all
),

issued as (
    select cast(date_trunc('month', ts) as date) as issue_month, sum(points) as issued, count(distinct user_id) as users
    from issues
    group by all
),

final as (
    select
        i.issue_month,
        i.issued,
        i.users,
        coalesce(c.redeemed, 0) as redeemed,
        coalesce(c.expired, 0) as expired,
        coalesce(c.other_out, 0) as other_out,
        i.issued - coalesce(c.redeemed, 0) - coalesce(c.expired, 0) - coalesce(c.other_out, 0) as outstanding
    from issued as i
    left join consumed as c using (issue_month)
)

select * from final
order by issue_month
