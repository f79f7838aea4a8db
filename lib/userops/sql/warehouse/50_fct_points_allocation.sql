-- grain: one row per (points issue, points spend) overlap of a user
-- definition: points are spent first-in, first-out: each user's negative movements (redeem,
--   expire, other) consume the user's earliest issued points first (issues and spends each
--   ordered by ts, then reason, then points). A spend's slice (hi - points, hi] of the user's
--   cumulative spending is matched against the issues' slices of cumulative issuing; each
--   overlap is one row: issued_at, spent_at, spend_reason, points. The allocation of a spend
--   depends only on earlier movements, so any "as of" cut is a filter on spent_at.
-- parameters: none (built at load time)
-- invariants: sum(points) per spend = the spend's points when the user held enough points;
--   spent_at >= issued_at in well-formed data.
create table fct_points_allocation as
with ledger as (
    select * from points_ledger
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
