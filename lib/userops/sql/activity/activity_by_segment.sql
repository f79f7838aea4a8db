-- grain: one row per dimension x segment (dimensions: 'all', 'acquisition_channel', 'city',
--   'online_offline')
-- definition: order-based activity in the month [$from_date, $to_date). registered = users
--   registered before $to_date (NULL for 'online_offline', which only exists for active
--   users); mau = users with an order in the month; active_share = mau / registered;
--   active_user_days = sum over active users of their days with an order; dau_mau =
--   active_user_days / (days in month x mau), i.e. the mean DAU over the month / MAU.
--   online_offline = the user's order channels in the month: 'offline' (only channels in
--   $offline_channels, e.g. store), 'online' (only other channels) or 'both'. A NULL city is
--   'unknown'.
-- parameters: $from_date, $to_date (DATE, the month, half-open), $offline_channels (VARCHAR[],
--   the order channels placed in a store; params data.offline_order_channels)
-- invariants: mau <= registered; the segments of a dimension sum to the 'all' row's mau.
with users as (
    select user_id, channel, coalesce(city, 'unknown') as city
    from users
    where registered_at < $to_date
),

month_orders as (
    select user_id, order_date, order_channel
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

active as (
    select
        user_id,
        count(distinct order_date) as active_days,
        case
            when bool_and(list_contains($offline_channels, order_channel)) then 'offline'
            when bool_and(not list_contains($offline_channels, order_channel)) then 'online'
            else 'both'
        end as online_offline
    from month_orders
    group by user_id
),

user_segments as (
    select
        u.user_id,
        a.active_days,
        d.dimension,
        case d.dimension
            when 'all' then 'all'
            when 'acquisition_channel' then u.channel
            when 'city' then u.city
            when 'online_offline' then a.online_offline
        end as segment
    from users as u
    left join active as a using (user_id)
    cross join (select unnest(['all', 'acquisition_channel', 'city', 'online_offline']) as dimension) as d
),

final as (
    select
        dimension,
        segment,
        count(*) as users,
        count(active_days) as mau,
        coalesce(sum(active_days), 0) as active_user_days
    from user_segments
    where segment is not null
    group by dimension, segment
)

select
    dimension,
    segment,
    case when dimension = 'online_offline' then null else users end as registered,
    mau,
    active_user_days,
    date_diff('day', cast($from_date as date), cast($to_date as date)) as n_days,
    case when dimension = 'online_offline' then null else mau / users end as active_share,
    active_user_days / nullif(date_diff('day', cast($from_date as date), cast($to_date as date)) * mau, 0) as dau_mau
from final
order by dimension, mau desc, segment
