-- grain: one row per first-order cohort (day, week or month) x acquisition channel x day k
-- definition: the new users of a cohort are the users whose first order date falls in the
--   cohort period, within [$from_date, $to_date). The return event ($return_event) is 'order'
--   (another order), 'any' (any event or any order: activity) or the name of one event.
--   Dk retention = share of the cohort with a return event on calendar day k after the
--   first-order day (date = first_order_date + k). Cumulative Dk = share with one on days 1..k
--   (the headline "k-day retention"; same-day repeats, day 0, never count). A user enters the day-k denominator
--   only when observed for k full days by $as_of (first_order_date + k <= $as_of); a cell
--   whose eligible_users < cohort_users is immature and must be masked, never shown as 0.
--   Counts (not rates) are returned so that channels and cohorts can be summed exactly.
--   Cohort x channel x k cells without new users are zero-filled (cohort_users = 0).
--   is_complete: the whole cohort period lies inside the data (it starts on or after the first
--   day with any order and ends by $as_of) and inside [$from_date, $to_date); a partial cohort
--   (the data's first week, the week of $as_of) holds only some of its days' users.
-- parameters: $grain ('day' | 'week' | 'month'; weeks start on Monday), $from_date,
--   $to_date (DATE, half-open range of first-order dates), $max_day (INTEGER, k = 1..max_day),
--   $as_of (DATE, the last fully observed day), $return_event (VARCHAR: 'order' | 'any' | an
--   event name)
-- invariants: retained_users <= cum_retained_users <= eligible_users <= cohort_users;
--   cum_retained_users is non-decreasing in k for a cohort and channel over its mature cells
--   (eligible_users = cohort_users; an immature cell counts only the users observed k days).
with new_users as (
    select
        user_id,
        channel,
        first_order_date,
        cast(date_trunc($grain, first_order_date) as date) as cohort_start
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date
),

cohort_spine as (
    select cast(range as date) as cohort_start
    from range(
        cast(date_trunc($grain, cast($from_date as date)) as timestamp),
        cast($to_date as timestamp),
        cast('1 ' || $grain as interval)
    )
),

channel_spine as (
    select distinct channel from dim_users where first_order_date is not null
),

day_spine as (
    select cast(range as integer) as day_k from range(1, $max_day + 1)
),

returns as (
    -- the return events' days: orders (for 'order' and 'any') and events (for 'any' or by name)
    select user_id, order_date as active_date
    from fct_orders
    where $return_event in ('order', 'any')
    union all
    select user_id, cast(ts as date) as active_date
    from events
    where $return_event = 'any' or event = $return_event
),

repeat_days as (
    -- distinct day offsets 1..max_day with a return event of each new user
    select distinct
        n.user_id,
        date_diff('day', n.first_order_date, o.active_date) as day_k
    from new_users as n
    inner join returns as o using (user_id)
    where o.active_date > n.first_order_date and o.active_date <= n.first_order_date + $max_day
),

data_start as (
    select min(order_date) as first_day from fct_orders
),

first_repeat as (
    select user_id, min(day_k) as first_repeat_day from repeat_days group by user_id
),

cohort_sizes as (
    select cohort_start, channel, count(*) as cohort_users
    from new_users
    group by all
),

cells as (
    select
        n.cohort_start,
        n.channel,
        d.day_k,
        count(*) filter (where n.first_order_date + d.day_k <= $as_of) as eligible_users,
        count(*) filter (where n.first_order_date + d.day_k <= $as_of and r.user_id is not null)
            as retained_users,
        count(*) filter (where n.first_order_date + d.day_k <= $as_of and f.first_repeat_day <= d.day_k)
            as cum_retained_users
    from new_users as n
    cross join day_spine as d
    left join repeat_days as r on r.user_id = n.user_id and r.day_k = d.day_k
    left join first_repeat as f on f.user_id = n.user_id
    group by all
),

final as (
    select
        s.cohort_start,
        c.channel,
        d.day_k,
        coalesce(z.cohort_users, 0) as cohort_users,
        coalesce(x.eligible_users, 0) as eligible_users,
        coalesce(x.retained_users, 0) as retained_users,
        coalesce(x.cum_retained_users, 0) as cum_retained_users,
        s.cohort_start >= (select first_day from data_start)
        and s.cohort_start >= cast($from_date as date)
        and cast(s.cohort_start + cast('1 ' || $grain as interval) as date) <= least(
            cast($as_of as date) + 1, cast($to_date as date)
        ) as is_complete
    from cohort_spine as s
    cross join channel_spine as c
    cross join day_spine as d
    left join cohort_sizes as z on z.cohort_start = s.cohort_start and z.channel = c.channel
    left join cells as x on x.cohort_start = s.cohort_start and x.channel = c.channel and x.day_k = d.day_k
)

select * from final
order by cohort_start, channel, day_k
