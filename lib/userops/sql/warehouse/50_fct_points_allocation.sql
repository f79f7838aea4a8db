-- grain: one row per (points issue, points spend) overlap of a user
-- definition: points are spent first-in, first-out: each user's negative movements (redeem,
--   expire, other) consume the user's earliest issued points first (issues and spends each
--   ordered by ts, then reason, then points). A spend's slice (hi - points, hi] of the user's
--   cumulative spending is matched against the issues' slices of cumulative issuing; each
--   overlap is one row: issued_at, spent_at, spend_reason, points. The allocation of a spend
--   depends only on earlier movements, so any "as of" cut is a filter on spent_at.
-- parameters: none (built at load time)
-- performance: the running sum of issues is taken over the users who spend only (a user's sum
--   does not depend on other users), and issues starting at or beyond all the user spent are
--   dropped before the join (no spend's slice can overlap them): the same rows.
-- invariants: sum(points) per spend = the spend's points when the user held enough points;
--   spent_at >= issued_at in well-formed data.
create table fct_points_allocation as
with ledger as (
    select * from points_ledger
),

spenders as (
    select user_id, sum(-points) as spent
    from ledger
    where points < 0
    group by user_id
),

issued as (
    select
        l.user_id,
        l.ts,
        l.points,
        p.spent,
        sum(l.points) over (partition by l.user_id order by l.ts, l.reason, l.points rows unbounded preceding) as hi
    from ledger as l
    inner join spenders as p using (user_id)
    where l.points > 0
),

-- only issues a spend can reach: of users who spend, starting below what they spent in all
issues as (
    select user_id, ts, points, hi
    from issued
    where hi - points < spent
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

final as (
    select
        i.user_id,
        i.ts as issued_at,
        s.ts as spent_at,
        s.reason as spend_reason,
        least(i.hi, s.hi) - greatest(i.hi - i.points, s.hi - s.points) as points
    from spends as s
    inner join issues as i
        on i.user_id = s.user_id and s.hi - s.points < i.hi and i.hi - i.points < s.hi
)

select * from final
order by user_id, spent_at, issued_at
