-- grain: one row per first-order cohort month x acquisition channel x months since the first
--   order (k = 0 .. $months - 1)
-- definition: cohort = users whose first order fell in the month, cohort months in
--   [$from_date, $to_date). Month k = calendar month cohort_month + k (k = 0 is the rest of the
--   first-order month). gmv_k / margin_k = paid GMV / gross margin (fct_order_margin: paid GMV -
--   cost of goods) of the cohort's orders in month k alone (the chain-ladder increment);
--   cum_gmv / cum_margin = the same over months 0..k. A margin is null when any of its orders
--   lacks lines or unit costs. is_mature = month k has ended by the end of $as_of
--   (cohort_month + k + 1 month <= $as_of + 1 day); immature cells are partial and must be
--   masked, never plotted or pooled. Cells are zero-filled against the spines.
-- parameters: $from_date, $to_date (DATE, first days of months), $months (INTEGER), $as_of (DATE)
-- invariants: gmv_k >= 0; cum_gmv = sum of gmv_k over months 0..k, so non-decreasing in k; a
--   cohort with users has cum_gmv > 0 at k = 0 (its first orders).
with cohorts as (
    select user_id, channel, cohort_month
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date
),

orders as (
    select
        c.cohort_month,
        c.channel,
        date_diff('month', c.cohort_month, cast(date_trunc('month', m.ordered_at) as date)) as month_k,
        m.paid_gmv as gmv,
        m.gross_margin as margin
    from fct_order_margin as m
    inner join cohorts as c using (user_id)
    where cast(m.ordered_at as date) <= $as_of
),

month_spine as (
    select cast(range as date) as cohort_month
    from range(
        cast(date_trunc('month', cast($from_date as date)) as timestamp),
        cast($to_date as timestamp),
        interval 1 month
    )
),

channel_spine as (
    select distinct channel from dim_users
),

k_spine as (
    select cast(range as integer) as month_k from range(0, $months)
),

sizes as (
    select cohort_month, channel, count(*) as cohort_users from cohorts group by all
),

per_month as (
    select
        cohort_month,
        channel,
        month_k,
        sum(gmv) as gmv,
        sum(margin) as margin,
        count(*) filter (where margin is null) as n_unknown_margin
    from orders
    where month_k < $months
    group by all
),

grid as (
    select
        m.cohort_month,
        c.channel,
        k.month_k,
        coalesce(z.cohort_users, 0) as cohort_users,
        coalesce(p.gmv, 0) as gmv,
        coalesce(p.margin, 0) as margin,
        coalesce(p.n_unknown_margin, 0) as n_unknown_margin
    from month_spine as m
    cross join channel_spine as c
    cross join k_spine as k
    left join sizes as z on z.cohort_month = m.cohort_month and z.channel = c.channel
    left join per_month as p on p.cohort_month = m.cohort_month and p.channel = c.channel and p.month_k = k.month_k
),

final as (
    select
        cohort_month,
        channel,
        month_k,
        cohort_users,
        cast(gmv as double) as gmv_k,
        case when n_unknown_margin = 0 then cast(margin as double) end as margin_k,
        cast(sum(gmv) over w as double) as cum_gmv,
        case when sum(n_unknown_margin) over w = 0 then cast(sum(margin) over w as double) end as cum_margin,
        cohort_month + to_months(month_k + 1) <= cast($as_of as date) + 1 as is_mature
    from grid
    window w as (partition by cohort_month, channel order by month_k rows between unbounded preceding and current row)
)

select * from final
order by cohort_month, channel, month_k
