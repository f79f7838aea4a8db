-- grain: one row per user with an abandoned checkout
-- definition: checkout events (event in $checkout_events, params triggers.checkout_events) whose
--   $hours-hour window closes during the run date (ts in [$day_end - 1 day - $hours hours,
--   $day_end - $hours hours)), with no order by the user from the checkout to $day_end (so none
--   within $hours hours either). Each checkout is judged once, on the day its window closes.
-- parameters: $day_end (TIMESTAMP, first instant after the run date), $hours (INTEGER),
--   $checkout_events (VARCHAR[])
-- invariants: one row per user (the latest abandoned checkout); needs the events table.
with checkouts as (
    select user_id, ts
    from events
    where
        list_contains($checkout_events, event)
        and ts >= $day_end - interval 1 day - to_hours(cast($hours as bigint))
        and ts < $day_end - to_hours(cast($hours as bigint))
),

abandoned as (
    select c.user_id, c.ts
    from checkouts as c
    where not exists (
        select 1 from orders as o
        where o.user_id = c.user_id and o.ordered_at >= c.ts and o.ordered_at < $day_end
    )
)

select
    user_id,
    cast(null as bigint) as coupon_id,
    cast(null as decimal(12, 2)) as coupon_value,
    cast(null as varchar) as detail,
    format('checkout started {} with no order since', strftime(max(ts), '%Y-%m-%d %H:%M')) as reason
from abandoned
group by user_id
order by user_id
