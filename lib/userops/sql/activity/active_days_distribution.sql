-- grain: one row per activity definition ('orders' | 'events') x number of active days (1..days in month)
-- definition: the month's active users (MAU, see active_users_trend.sql) by the number of
--   distinct days in [$from_date, $to_date) on which they were active: the stickiness
--   distribution. 'orders' = days with an order, 'events' = days with any event. Zero-filled
--   for every day count from 1 to the month's length.
-- parameters: $from_date, $to_date (DATE, the month, half-open)
-- invariants: sum(users) per definition = that definition's MAU; sum(users x active_days) =
--   the sum of DAU over the month's days.
with per_user as (
    -- the month's user-days (fct_user_days, built at load) counted per user and definition
    select 'orders' as definition, user_id, count(*) as active_days
    from fct_user_days
    where n_orders > 0 and activity_date >= $from_date and activity_date < $to_date
    group by user_id
    union all
    select 'events' as definition, user_id, count(*) as active_days
    from fct_user_days
    where has_event and activity_date >= $from_date and activity_date < $to_date
    group by user_id
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
