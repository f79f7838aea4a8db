-- grain: one row per month x activity definition ('orders' | 'events')
-- definition: a user is active on a day when they placed an order that day (definition
--   'orders', the playbook's main one) or, second definition, when they left any event
--   (visit, browse, cart, check-in, share, draw, task; definition 'events'). For each month in
--   [$from_date, $to_date): avg_dau = mean over the month's days of the users active that day;
--   avg_wau = mean over the month's days of the users active in the 7 days ending that day;
--   mau = users active on any day of the month. dau_mau and wau_mau are the stickiness ratios
--   avg_dau / mau and avg_wau / mau (NULL when mau = 0). Months and definitions without
--   activity are zero rows (the 'events' rows are all 0 when the events table is absent).
-- parameters: $from_date, $to_date (DATE, first days of months; half-open month range)
-- invariants: avg_dau <= avg_wau <= mau; 0 <= dau_mau <= wau_mau <= 1.
with order_days as (
    select distinct user_id, order_date as activity_date, 'orders' as definition
    from fct_orders
    where order_date >= cast($from_date as date) - 6 and order_date < $to_date
),

event_days as (
    select distinct user_id, cast(ts as date) as activity_date, 'events' as definition
    from events
    where ts >= cast($from_date as date) - 6 and ts < $to_date
),

user_days as (
    select * from order_days
    union all
    select * from event_days
),

day_spine as (
    select
        cast(range as date) as activity_date,
        cast(date_trunc('month', range) as date) as month
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 day)
),

definition_spine as (
    select unnest(['orders', 'events']) as definition
),

daily as (
    select definition, activity_date, count(*) as dau
    from user_days
    group by all
),

rolling_7d as (
    -- a user active on day a counts in the 7-day windows ending on a .. a + 6, or up to the day
    -- before their next active day (which starts a window of its own): each user's windows do
    -- not overlap, so wau(d) = the running sum of +1 at each start and -1 at each end, without
    -- a distinct count over user-days x 7
    select definition, activity_date as day, 1 as delta from user_days
    union all
    select
        definition,
        least(
            activity_date + 7,
            coalesce(lead(activity_date) over (partition by definition, user_id order by activity_date), activity_date + 7)
        ) as day,
        -1 as delta
    from user_days
),

wau_days as (
    select
        d.definition,
        s.activity_date,
        sum(coalesce(r.delta, 0)) over (
            partition by d.definition order by s.activity_date rows unbounded preceding
        ) as wau
    from (
        select cast(range as date) as activity_date
        from range(cast($from_date as timestamp) - interval 6 day, cast($to_date as timestamp), interval 1 day)
    ) as s
    cross join definition_spine as d
    left join (
        select definition, day, sum(delta) as delta from rolling_7d group by all
    ) as r on r.definition = d.definition and r.day = s.activity_date
),

monthly as (
    select definition, cast(date_trunc('month', activity_date) as date) as month, count(distinct user_id) as mau
    from user_days
    where activity_date >= $from_date
    group by all
),

days as (
    select
        s.month,
        d.definition,
        count(*) as n_days,
        sum(coalesce(x.dau, 0)) / count(*) as avg_dau,
        sum(coalesce(w.wau, 0)) / count(*) as avg_wau
    from day_spine as s
    cross join definition_spine as d
    left join daily as x on x.definition = d.definition and x.activity_date = s.activity_date
    left join wau_days as w on w.definition = d.definition and w.activity_date = s.activity_date
    group by all
),

final as (
    select
        d.month,
        d.definition,
        d.n_days,
        d.avg_dau,
        d.avg_wau,
        coalesce(m.mau, 0) as mau,
        d.avg_dau / nullif(m.mau, 0) as dau_mau,
        d.avg_wau / nullif(m.mau, 0) as wau_mau
    from days as d
    left join monthly as m using (month, definition)
)

select * from final
order by month, definition
