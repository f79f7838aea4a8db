-- grain: one row per month x acquisition channel (users.channel)
-- definition: registrations = users registered in the month; new_users = users whose FIRST
--   ORDER fell in the month (the playbook's definition of a new user), whatever their
--   registration month. For the month's registrations, conversion within N days = first order
--   at most N x 24 h after registration; a registration enters the N-day denominator
--   (eligible_Nd) only when observed for the whole window by the end of $as_of
--   (registered_at + N days < $as_of + 1 day). is_offline: channel listed in $offline_channels.
--   Month x channel cells without activity are zero-filled against the spines.
-- parameters: $from_date, $to_date (DATE, half-open range of months), $as_of (DATE, last
--   observed day), $short_days, $long_days (INTEGER conversion windows), $offline_channels
--   (VARCHAR[])
-- invariants: converted_short <= eligible_short <= registrations;
--   converted_long <= eligible_long <= registrations; eligible_long <= eligible_short.
with users as (
    select user_id, channel, registered_at, first_order_at, first_order_date
    from dim_users
),

month_spine as (
    select cast(range as date) as month
    from range(
        cast(date_trunc('month', cast($from_date as date)) as timestamp),
        cast($to_date as timestamp),
        interval 1 month
    )
),

channel_spine as (
    select distinct channel from users
),

registrations as (
    select
        cast(date_trunc('month', registered_at) as date) as month,
        channel,
        count(*) as registrations,
        count(*) filter (
            where registered_at + to_days($short_days) < cast($as_of as timestamp) + interval 1 day
        ) as eligible_short,
        count(*) filter (
            where registered_at + to_days($short_days) < cast($as_of as timestamp) + interval 1 day
            and first_order_at <= registered_at + to_days($short_days)
        ) as converted_short,
        count(*) filter (
            where registered_at + to_days($long_days) < cast($as_of as timestamp) + interval 1 day
        ) as eligible_long,
        count(*) filter (
            where registered_at + to_days($long_days) < cast($as_of as timestamp) + interval 1 day
            and first_order_at <= registered_at + to_days($long_days)
        ) as converted_long
    from users
    where registered_at >= $from_date and registered_at < $to_date
    group by all
),

new_users as (
    select cast(date_trunc('month', first_order_date) as date) as month, channel, count(*) as new_users
    from users
    where first_order_date >= $from_date and first_order_date < $to_date
    group by all
),

final as (
    select
        m.month,
        c.channel,
        list_contains($offline_channels, c.channel) as is_offline,
        coalesce(r.registrations, 0) as registrations,
        coalesce(n.new_users, 0) as new_users,
        coalesce(r.eligible_short, 0) as eligible_short,
        coalesce(r.converted_short, 0) as converted_short,
        coalesce(r.eligible_long, 0) as eligible_long,
        coalesce(r.converted_long, 0) as converted_long
    from month_spine as m
    cross join channel_spine as c
    left join registrations as r on r.month = m.month and r.channel = c.channel
    left join new_users as n on n.month = m.month and n.channel = c.channel
)

select * from final
order by month, channel
