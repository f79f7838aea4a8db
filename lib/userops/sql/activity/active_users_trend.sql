-- grain: one row per month x activity definition ('orders' | 'events')
-- definition: a user is active on a day when they placed an order that day (definition
--   'orders', the playbook's main one) or, second definition, when they left any event
--   (visit, browse, cart, check-in, share, draw, task; definition 'events'). For each month in
--   [$from_date, $to_date): avg_dau = mean over the month's days of the users active that day;
--   avg_wau = mean over the month's days of the users active in the 7 days ending that day;
--   mau = users active on any day of the month. dau_mau and wau_mau are the stickiness ratios
--   avg_dau / mau and avg_wau / mau (NULL when mau = 0). Months and definitions without
--   activity are zero rows (the 'events' rows are all 0 when the events table is absent).
--   The user-days and each one's neighbouring active days are fct_user_days' (built at load).
-- parameters: $from_date, $to_date (DATE, first days of months; half-open month range)
-- invariants: avg_dau <= avg_wau <= mau; 0 <= dau_mau <= wau_mau <= 1.
with marked as (
    -- a user active on day a counts in the 7-day windows ending on a .. a + 6, or up to the day
    -- before their next active day (which starts a window of its own), so wau(d) = the running
    -- sum of +1 at each start and -1 at each end, without a distinct count over user-days x 7;
    -- and a user-day whose previous active day lies in an earlier month is the user's first of
    -- the month, so mau = their count, without a distinct count per month. The neighbours are
    -- the user's whole history's (fct_user_days), not the range's: a next day at or after
    -- $to_date ends a window only at or after $to_date, and a previous day before the range
    -- lies in an earlier month than every day of the range's months, so the rows are the same
    select
        'orders' as definition,
        activity_date,
        least(activity_date + 7, coalesce(next_order_date, activity_date + 7)) as window_end,
        prev_order_date is null
        or date_trunc('month', prev_order_date) < date_trunc('month', activity_date) as is_month_first
    from fct_user_days
    where n_orders > 0 and activity_date >= cast($from_date as date) - 6 and activity_date < $to_date
    union all
    select
        'events' as definition,
        activity_date,
        least(activity_date + 7, coalesce(next_event_date, activity_date + 7)) as window_end,
        prev_event_date is null
        or date_trunc('month', prev_event_date) < date_trunc('month', activity_date) as is_month_first
    from fct_user_days
    where has_event and activity_date >= cast($from_date as date) - 6 and activity_date < $to_date
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

deltas as (
    select definition, activity_date as day, count(*) as starts, 0 as ends, count(*) filter (where is_month_first) as month_firsts
    from marked
    group by all
    union all
    select definition, window_end, 0, count(*), 0
    from marked
    group by all
),

per_day as (
    select definition, day, sum(starts) as dau, sum(starts) - sum(ends) as delta, sum(month_firsts) as month_firsts
    from deltas
    group by all
),

wau_days as (
    select
        d.definition,
        s.activity_date,
        coalesce(r.dau, 0) as dau,
        coalesce(r.month_firsts, 0) as month_firsts,
        sum(coalesce(r.delta, 0)) over (
            partition by d.definition order by s.activity_date rows unbounded preceding
        ) as wau
    from (
        select cast(range as date) as activity_date
        from range(cast($from_date as timestamp) - interval 6 day, cast($to_date as timestamp), interval 1 day)
    ) as s
    cross join definition_spine as d
    left join per_day as r on r.definition = d.definition and r.day = s.activity_date
),

days as (
    select
        s.month,
        d.definition,
        count(*) as n_days,
        sum(w.dau) / count(*) as avg_dau,
        sum(w.wau) / count(*) as avg_wau,
        cast(sum(w.month_firsts) as bigint) as mau
    from day_spine as s
    cross join definition_spine as d
    inner join wau_days as w on w.definition = d.definition and w.activity_date = s.activity_date
    group by all
),

final as (
    select
        month,
        definition,
        n_days,
        avg_dau,
        avg_wau,
        mau,
        avg_dau / nullif(mau, 0) as dau_mau,
        avg_wau / nullif(mau, 0) as wau_mau
    from days
)

select * from final
order by month, definition
