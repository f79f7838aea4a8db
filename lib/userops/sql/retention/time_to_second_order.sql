-- grain: one row per acquisition channel x duration (days) x observed flag
-- definition: for new users with a first order date in [$from_date, $to_date): the number of
--   calendar days from the first-order day to the first later day with another order (the
--   headline retention's return: days 1.., a same-day 2nd order does not count; observed =
--   true), or, when no such day is seen by $as_of or within $horizon days, the days observed so
--   far (censored: observed = false, duration = least($as_of - first_order_date, $horizon)).
--   n_users counts the users at each (duration, observed); fed as weights to a Kaplan-Meier fit,
--   1 - S(k) is the censored estimate of cumulative Dk retention (k-day retention).
-- parameters: $from_date, $to_date (DATE), $as_of (DATE, last observed day), $horizon (INTEGER days)
-- invariants: sum(n_users) = new users in the range; 0 <= duration_days <= $horizon.
with new_users as (
    select user_id, channel, first_order_date
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date
),

first_return as (
    select n.user_id, min(o.order_date) as return_date
    from new_users as n
    inner join fct_orders as o using (user_id)
    where o.order_date > n.first_order_date
    group by n.user_id
),

durations as (
    select
        n.channel,
        least(date_diff('day', n.first_order_date, cast($as_of as date)), $horizon) as observed_days,
        date_diff('day', n.first_order_date, r.return_date) as days_to_return
    from new_users as n
    left join first_return as r using (user_id)
),

final as (
    select
        channel,
        case when days_to_return <= observed_days then days_to_return else observed_days end as duration_days,
        coalesce(days_to_return <= observed_days, false) as observed,
        count(*) as n_users
    from durations
    group by all
)

select * from final
order by channel, duration_days, observed
