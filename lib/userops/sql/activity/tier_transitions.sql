-- grain: one row per tier at $start_date x tier at $end_date
-- definition: membership tier from rolling spend (no tier table in the contract): a user's
--   tier at a date D is set by their GMV in the $window_days days before D, [D - window, D):
--   0 = no order in the window, 1 = ordinary (spend > 0 below the first threshold), then
--   1 + the number of ascending $thresholds (yuan) the spend reaches (2 potential, 3 important,
--   4 core with three thresholds). Users registered on or after $start_date have start_tier
--   -1 (new in the period). Population: users registered before $end_date. The full
--   start x end grid is zero-filled.
-- parameters: $start_date, $end_date (DATE), $window_days (INTEGER), $thresholds (DOUBLE[], ascending)
-- invariants: sum(users) = users registered before $end_date; tiers in -1..len($thresholds) + 1.
with users as (
    select user_id, registered_at >= $start_date as is_new
    from users
    where registered_at < $end_date
),

spend_start as (
    select user_id, sum(gmv) as spend
    from fct_orders
    where order_date >= cast($start_date as date) - $window_days and order_date < $start_date
    group by user_id
),

spend_end as (
    select user_id, sum(gmv) as spend
    from fct_orders
    where order_date >= cast($end_date as date) - $window_days and order_date < $end_date
    group by user_id
),

tiered as (
    select
        u.user_id,
        case
            when u.is_new then -1
            when coalesce(s.spend, 0) = 0 then 0
            else 1 + len(list_filter($thresholds, lambda t: t <= s.spend))
        end as start_tier,
        case
            when coalesce(e.spend, 0) = 0 then 0
            else 1 + len(list_filter($thresholds, lambda t: t <= e.spend))
        end as end_tier
    from users as u
    left join spend_start as s using (user_id)
    left join spend_end as e using (user_id)
),

tier_spine as (
    select cast(range as integer) as tier from range(-1, len($thresholds) + 2)
),

counts as (
    select start_tier, end_tier, count(*) as users from tiered group by all
),

final as (
    select a.tier as start_tier, b.tier as end_tier, coalesce(c.users, 0) as users
    from tier_spine as a
    cross join tier_spine as b
    left join counts as c on c.start_tier = a.tier and c.end_tier = b.tier
    where b.tier >= 0
)

select * from final
order by start_tier, end_tier
