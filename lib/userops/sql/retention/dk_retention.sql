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
    -- the return events' days (orders for 'order' and 'any', events for 'any' or by name), only
    -- the days a new user's window can reach: (first first-order date, last one + $max_day]
    select user_id, order_date as active_date
    from fct_orders
    where
        $return_event in ('order', 'any')
        and order_date > $from_date and order_date < cast($to_date as date) + $max_day
    union all
    select user_id, cast(ts as date) as active_date
    from events
    where
        $return_event not in ('order')
        and ($return_event = 'any' or event = $return_event)
        and ts >= cast($from_date as date) + 1 and ts < cast($to_date as date) + $max_day
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

first_repeat as (
    select user_id, min(day_k) as first_repeat_day from repeat_days group by user_id
),

by_date as (
    -- new users per cohort x channel x first-order date (a day-k cell's eligibility depends on
    -- the first-order date only)
    select cohort_start, channel, first_order_date, count(*) as users
    from new_users
    group by all
),

hits as (
    -- per cohort x channel x first-order date x k: users returning on day k (retained) and
    -- users whose first return is on day k (firsts), counted without a user x k grid
    select n.cohort_start, n.channel, n.first_order_date, r.day_k, count(*) as retained, 0 as firsts
    from repeat_days as r
    inner join new_users as n using (user_id)
    group by all
    union all
    select n.cohort_start, n.channel, n.first_order_date, f.first_repeat_day, 0, count(*)
    from first_repeat as f
    inner join new_users as n using (user_id)
    group by all
),

date_cells as (
    select
        b.cohort_start,
        b.channel,
        b.first_order_date,
        d.day_k,
        b.users,
        coalesce(h.retained, 0) as retained,
        sum(coalesce(h.firsts, 0)) over (
            partition by b.cohort_start, b.channel, b.first_order_date order by d.day_k
        ) as cum_retained
    from by_date as b
    cross join day_spine as d
    left join (
        select cohort_start, channel, first_order_date, day_k, sum(retained) as retained, sum(firsts) as firsts
        from hits
        group by all
    ) as h using (cohort_start, channel, first_order_date, day_k)
),

data_start as (
    -- the first day with any order (every user's first order is their earliest)
    select min(first_order_date) as first_day from dim_users
),

cohort_sizes as (
    select cohort_start, channel, sum(users) as cohort_users
    from by_date
    group by all
),

cells as (
    select
        cohort_start,
        channel,
        day_k,
        sum(users) filter (where first_order_date + day_k <= $as_of) as eligible_users,
        sum(retained) filter (where first_order_date + day_k <= $as_of) as retained_users,
        sum(cum_retained) filter (where first_order_date + day_k <= $as_of) as cum_retained_users
    from date_cells
    group by all
),

final as (
    select
        s.cohort_start,
        c.channel,
        d.day_k,
        cast(coalesce(z.cohort_users, 0) as bigint) as cohort_users,
        cast(coalesce(x.eligible_users, 0) as bigint) as eligible_users,
        cast(coalesce(x.retained_users, 0) as bigint) as retained_users,
        cast(coalesce(x.cum_retained_users, 0) as bigint) as cum_retained_users,
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
