-- grain: one row per user registered exactly $days days before the run date without an order
-- definition: users with registered_at in [$day_end - ($days + 1) days, $day_end - $days days) and
--   no order before $day_end.
-- parameters: $day_end (TIMESTAMP, first instant after the run date), $days (INTEGER)
-- invariants: one row per user; none of them has an order before $day_end.
select
    u.user_id,
    cast(null as bigint) as coupon_id,
    cast(null as decimal(12, 2)) as coupon_value,
    u.channel as detail,
    format('registered {} via {}, no order yet', strftime(u.registered_at, '%Y-%m-%d'), u.channel) as reason
from users as u
where
    u.registered_at >= $day_end - to_days(cast($days as integer) + 1)
    and u.registered_at < $day_end - to_days(cast($days as integer))
    and not exists (select 1 from orders as o where o.user_id = u.user_id and o.ordered_at < $day_end)
order by u.user_id
