-- grain: one row per acquisition channel (users.channel)
-- definition: new users = users whose first order date is in [$from_date, $to_date).
--   Retention uses calendar days after the first order date (as in play 2):
--   retained_short = another order on days 1..$short_days, retained_long = on days
--   1..$long_days. Value in the first $value_days days: orders and GMV (paid, first order
--   included) with order_date < first_order_date + $value_days; second_order = a 2nd order in
--   that window. Each measure counts only users observed for its whole window by $as_of
--   (first_order_date + window <= $as_of, resp. first_order_date + $value_days - 1 <= $as_of):
--   eligible_short / eligible_long / eligible_value. gmv_value_sq = sum of squared per-user GMV
--   (for the standard error of GMV per user). Channels without new users are zero rows.
-- parameters: $from_date, $to_date (DATE), $as_of (DATE, last observed day), $short_days,
--   $long_days, $value_days (INTEGER)
-- invariants: retained_short <= eligible_short, retained_long <= eligible_long,
--   second_order_users <= eligible_value <= eligible_long <= eligible_short <= new_users
--   (when $short_days <= $long_days <= $value_days).
with new_users as (
    select user_id, channel, first_order_date
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date
),

channel_spine as (
    select distinct channel from dim_users
),

per_user as (
    select
        n.user_id,
        n.channel,
        n.first_order_date + $short_days <= $as_of as is_eligible_short,
        n.first_order_date + $long_days <= $as_of as is_eligible_long,
        n.first_order_date + $value_days - 1 <= $as_of as is_eligible_value,
        coalesce(bool_or(o.order_date between n.first_order_date + 1 and n.first_order_date + $short_days), false)
            as is_retained_short,
        coalesce(bool_or(o.order_date between n.first_order_date + 1 and n.first_order_date + $long_days), false)
            as is_retained_long,
        count(o.order_id) filter (where o.order_date < n.first_order_date + $value_days) as orders_value,
        coalesce(sum(o.gmv) filter (where o.order_date < n.first_order_date + $value_days), 0) as gmv_value
    from new_users as n
    left join fct_orders as o on o.user_id = n.user_id and o.order_date <= $as_of
    group by all
),

per_channel as (
    select
        channel,
        count(*) as new_users,
        count(*) filter (where is_eligible_short) as eligible_short,
        count(*) filter (where is_eligible_short and is_retained_short) as retained_short,
        count(*) filter (where is_eligible_long) as eligible_long,
        count(*) filter (where is_eligible_long and is_retained_long) as retained_long,
        count(*) filter (where is_eligible_value) as eligible_value,
        count(*) filter (where is_eligible_value and orders_value >= 2) as second_order_users,
        coalesce(sum(orders_value) filter (where is_eligible_value), 0) as orders_value,
        coalesce(sum(gmv_value) filter (where is_eligible_value), 0) as gmv_value,
        coalesce(sum(gmv_value * gmv_value) filter (where is_eligible_value), 0) as gmv_value_sq
    from per_user
    group by channel
),

final as (
    select
        c.channel,
        coalesce(p.new_users, 0) as new_users,
        coalesce(p.eligible_short, 0) as eligible_short,
        coalesce(p.retained_short, 0) as retained_short,
        coalesce(p.eligible_long, 0) as eligible_long,
        coalesce(p.retained_long, 0) as retained_long,
        coalesce(p.eligible_value, 0) as eligible_value,
        coalesce(p.second_order_users, 0) as second_order_users,
        coalesce(p.orders_value, 0) as orders_value,
        cast(coalesce(p.gmv_value, 0) as double) as gmv_value,
        cast(coalesce(p.gmv_value_sq, 0) as double) as gmv_value_sq
    from channel_spine as c
    left join per_channel as p using (channel)
)

select * from final
order by channel
