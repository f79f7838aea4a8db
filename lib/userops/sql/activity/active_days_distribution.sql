-- grain: one row per activity definition ('orders' | 'events') x number of active days (1..days in month)
-- definition: the month's active users (MAU, see active_users_trend.sql) by the number of
--   distinct days in [$from_date, $to_date) on which they were active: the stickiness
--   distribution. 'orders' = days with an order, 'events' = days with any event. Zero-filled
--   for every day count from 1 to the month's length.
-- parameters: $from_date, $to_date (DATE, the month, half-open)
-- invariants: sum(users) per definition = that definition's MAU; sum(users x active_days) =
--   the sum of DAU over the month's days.
with order_days as (
    select distinct user_id, order_date as activity_date, 'orders' as definition
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

event_days as (
    select distinct user_id, cast(ts as date) as activity_date, 'events' as definition
    from events
    where ts >= $from_date and ts < $to_date
),

per_user as (
    select definition, user_id, count(*) as active_days
    from (select * from order_days union all select * from event_days)
    group by all
),

spine as (
    select d.definition, cast(k.range as integer) as active_days
    from (select unnest(['orders', 'events']) as definition) as d
    cross join range(1, date_diff('day', cast($from_date as date), cast($to_date as date)) + 1) as k
),

final as (
    select s.definition, s.active_days, count(p.user_id) as users
    from spine as s
    left join per_user as p using (definition, active_days)
    group by all
)

select * from final
order by definition, active_days
