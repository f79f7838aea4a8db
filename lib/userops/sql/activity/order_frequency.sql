-- grain: one row per dimension x segment x orders in the month (1..max)
-- definition: the month's buyers (orders in [$from_date, $to_date)) by their number of orders
--   in the month, overall ('all') and by 'acquisition_channel' and 'online_offline' (the
--   user's order channels in the month: 'offline' only $offline_channels, 'online' only other
--   channels, 'both').
--   Only order counts that occur are returned; the notebook buckets the tail.
-- parameters: $from_date, $to_date (DATE, the month, half-open), $offline_channels (VARCHAR[],
--   the order channels placed in a store)
-- invariants: sum(users) per dimension = the month's buyers; n_orders >= 1.
with per_user as (
    select
        o.user_id,
        count(*) as n_orders,
        case
            when bool_and(list_contains($offline_channels, o.order_channel)) then 'offline'
            when bool_and(not list_contains($offline_channels, o.order_channel)) then 'online'
            else 'both'
        end as online_offline,
        any_value(u.channel) as channel
    from fct_orders as o
    inner join dim_users as u using (user_id)
    where o.order_date >= $from_date and o.order_date < $to_date
    group by o.user_id
),

final as (
    select
        d.dimension,
        case d.dimension
            when 'all' then 'all'
            when 'acquisition_channel' then p.channel
            when 'online_offline' then p.online_offline
        end as segment,
        p.n_orders,
        count(*) as users
    from per_user as p
    cross join (select unnest(['all', 'acquisition_channel', 'online_offline']) as dimension) as d
    group by all
)

select * from final
order by dimension, segment, n_orders
