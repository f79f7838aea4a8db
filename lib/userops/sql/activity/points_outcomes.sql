-- grain: one row per issue date x outcome x days since issue
-- definition: what became of every issued point by $as_of, first-in, first-out
--   (fct_points_allocation): outcome 'redeem' (spent on an order), 'expire', 'other' (any other
--   removal) at days = calendar days from the issue to that spend, or 'held' (still outstanding)
--   at days = calendar days from the issue to $as_of. The input of the redemption-delay curve:
--   'redeem' is the event, every other outcome is censored at its days.
-- parameters: $as_of (DATE, last observed day)
-- invariants: sum(points) per issue date = the points issued that day; days >= 0.
with issued as (
    select cast(ts as date) as issue_date, sum(points) as points
    from points_ledger
    where points > 0 and ts < cast($as_of as timestamp) + interval 1 day
    group by all
),

spent as (
    select
        cast(issued_at as date) as issue_date,
        case when spend_reason in ('redeem', 'expire') then spend_reason else 'other' end as outcome,
        date_diff('day', cast(issued_at as date), cast(spent_at as date)) as days,
        sum(points) as points
    from fct_points_allocation
    where spent_at < cast($as_of as timestamp) + interval 1 day
    group by all
),

held as (
    select
        i.issue_date,
        'held' as outcome,
        date_diff('day', i.issue_date, cast($as_of as date)) as days,
        i.points - coalesce(sum(s.points), 0) as points
    from issued as i
    left join spent as s using (issue_date)
    group by i.issue_date, i.points
),

final as (
    select issue_date, outcome, days, points from spent
    union all
    select issue_date, outcome, days, points from held where points > 0
)

select * from final
order by issue_date, outcome, days
