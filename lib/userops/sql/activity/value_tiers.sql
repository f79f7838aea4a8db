-- grain: one row per user registered before $at_date
-- definition: the value tier (普通 / 潜在 / 重要 / 核心) of every user at a date D, the one
--   definition plays 03 and 05 share: spend = GMV of the user's orders in the $window_days
--   days before D, [D - window, D). tier 0 = none (no order in the window), 1 = ordinary
--   (spend > 0 below the first threshold), then 1 + the number of ascending $thresholds
--   (yuan) the spend reaches (2 potential, 3 important, 4 core with three thresholds).
-- parameters: $at_date (DATE), $window_days (INTEGER), $thresholds (DOUBLE[], ascending)
-- invariants: tier in 0..len($thresholds) + 1; tier = 0 exactly when spend = 0.
with users_at as (
    select user_id
    from users
    where registered_at < $at_date
),

spend as (
    select user_id, sum(gmv) as spend
    from fct_orders
    where order_date >= cast($at_date as date) - $window_days and order_date < $at_date
    group by user_id
),

final as (
    select
        u.user_id,
        coalesce(s.spend, 0) as spend,
        case
            when coalesce(s.spend, 0) <= 0 then 0
            else 1 + array_length(list_filter($thresholds, lambda t: t <= s.spend))
        end as tier
    from users_at as u
    left join spend as s using (user_id)
)

select * from final
order by user_id
