-- grain: one row per issue month (months with points issued up to $as_of)
-- definition: points are spent first-in, first-out (the allocation is built once at load,
--   fct_points_allocation); spends up to the end of $as_of count. For the points issued in a month:
--   redeemed / expired / other_out = the points of that month consumed by redemptions, expiry
--   or other removals by $as_of; outstanding = issued minus all of those (still held).
--   Breakage of an issue month = (expired + outstanding) / issued once the month is old enough.
-- parameters: $as_of (DATE, last observed day)
-- invariants: redeemed + expired + other_out + outstanding = issued; outstanding summed over
--   months = the closing balance of points_monthly.sql at $as_of.
with allocated as (
    select issued_at, spend_reason as reason, points
    from fct_points_allocation
    where spent_at < cast($as_of as timestamp) + interval 1 day
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
    from points_ledger
    where points > 0 and ts < cast($as_of as timestamp) + interval 1 day
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
