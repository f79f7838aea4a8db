-- grain: one row per month x incentive (each of $incentives, plus 'any')
-- definition: participants = users with at least one event of the incentive (e.g. checkin,
--   share_card, draw, task_done, browse_40s) in the month, within [$from_date, $to_date);
--   'any' = users with any of them. active_users = users with an order or any event in the
--   month; participation_rate = participants / active_users. Zero-filled per month and incentive.
-- parameters: $from_date, $to_date (DATE, first days of months), $incentives (VARCHAR[])
-- invariants: participants <= active_users; participants of 'any' >= each incentive's.
with incentive_events as (
    select distinct
        user_id,
        cast(date_trunc('month', ts) as date) as month,
        event as incentive
    from events
    where ts >= $from_date and ts < $to_date and list_contains($incentives, event)
),

active as (
    select cast(date_trunc('month', ts) as date) as month, user_id
    from events
    where ts >= $from_date and ts < $to_date
    union
    select cast(date_trunc('month', order_date) as date) as month, user_id
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

active_counts as (
    select month, count(*) as active_users from active group by month
),

participants as (
    select month, incentive, count(*) as participants
    from incentive_events
    group by all
    union all
    select month, 'any' as incentive, count(distinct user_id) as participants
    from incentive_events
    group by all
),

month_spine as (
    select cast(range as date) as month
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

incentive_spine as (
    select unnest(list_append($incentives, 'any')) as incentive
),

final as (
    select
        m.month,
        i.incentive,
        coalesce(p.participants, 0) as participants,
        coalesce(a.active_users, 0) as active_users
    from month_spine as m
    cross join incentive_spine as i
    left join participants as p on p.month = m.month and p.incentive = i.incentive
    left join active_counts as a on a.month = m.month
)

select *, participants / nullif(active_users, 0) as participation_rate
from final
order by month, incentive
