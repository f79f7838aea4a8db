-- grain: one row per acquisition channel
-- definition: new users (first order date in [$from_date, $to_date)) who placed a 2nd order
--   within $days x 24 hours of the first (same-day 2nd orders count). Only users observed for
--   the whole window by the end of $as_of (first_order_at + $days days < $as_of + 1 day) are
--   eligible; share = second_within / eligible_users.
-- parameters: $from_date, $to_date (DATE), $days (INTEGER), $as_of (DATE, last observed day)
-- invariants: second_within <= eligible_users <= new_users.
with new_users as (
    select channel, first_order_at, second_order_at
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date
),

flags as (
    select
        channel,
        first_order_at + to_days($days) < cast($as_of as timestamp) + interval 1 day as is_eligible,
        second_order_at <= first_order_at + to_days($days) as is_second_within
    from new_users
),

final as (
    select
        channel,
        count(*) as new_users,
        count(*) filter (where is_eligible) as eligible_users,
        count(*) filter (where is_eligible and is_second_within) as second_within
    from flags
    group by channel
)

select * from final
order by channel
