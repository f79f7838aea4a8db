-- grain: one row per acquisition channel x duration (days) x observed flag
-- definition: for new users with a first order date in [$from_date, $to_date): the number of
--   calendar days from the first order to the 2nd order (observed = true), or, when no 2nd
--   order is seen by $as_of or within $horizon days, the days observed so far (censored:
--   observed = false, duration = least($as_of - first_order_date, $horizon)). n_users counts
--   the users at each (duration, observed); feed as weights to a Kaplan-Meier fit.
-- parameters: $from_date, $to_date (DATE), $as_of (DATE, last observed day), $horizon (INTEGER days)
-- invariants: sum(n_users) = new users in the range; 0 <= duration_days <= $horizon.
with new_users as (
    select channel, first_order_date, second_order_date
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date
),

durations as (
    select
        channel,
        least(date_diff('day', first_order_date, cast($as_of as date)), $horizon) as observed_days,
        date_diff('day', first_order_date, second_order_date) as days_to_second
    from new_users
),

final as (
    select
        channel,
        case when days_to_second <= observed_days then days_to_second else observed_days end as duration_days,
        coalesce(days_to_second <= observed_days, false) as observed,
        count(*) as n_users
    from durations
    group by all
)

select * from final
order by channel, duration_days, observed
