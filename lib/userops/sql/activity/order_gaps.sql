-- grain: one row per dimension x segment (dimensions: 'all', 'acquisition_channel',
--   'online_offline')
-- definition: days between orders: for every order in [$from_date, $to_date) that has a
--   previous order by the same user, the calendar days since that previous order
--   (fct_orders.days_since_prev; same-day repeats are 0). mean_days / median_days over those
--   orders; online_offline is the channel of the order itself ('offline' = one of
--   $offline_channels).
-- parameters: $from_date, $to_date (DATE, the month, half-open), $offline_channels (VARCHAR[],
--   the order channels placed in a store)
-- invariants: repeat_orders <= orders of the month; mean_days >= 0.
with repeat_orders as (
    select
        o.days_since_prev,
        case when list_contains($offline_channels, o.order_channel) then 'offline' else 'online' end as online_offline,
        u.channel
    from fct_orders as o
    inner join dim_users as u using (user_id)
    where o.order_date >= $from_date and o.order_date < $to_date and o.days_since_prev is not null
),

final as (
    select
        d.dimension,
        case d.dimension
            when 'all' then 'all'
            when 'acquisition_channel' then r.channel
            when 'online_offline' then r.online_offline
        end as segment,
        count(*) as repeat_orders,
        avg(r.days_since_prev) as mean_days,
        median(r.days_since_prev) as median_days
    from repeat_orders as r
    cross join (select unnest(['all', 'acquisition_channel', 'online_offline']) as dimension) as d
    group by all
)

select * from final
order by dimension, segment
