-- grain: one row per user whose purchase cycle of a cycle category is about to lapse
-- definition: purchase days = a user's distinct days with a line of a category in $categories,
--   ordered in [$day_end - $lookback_days days, $day_end). Cycle = the median of the user's own
--   days between purchase days when they have at least $min_gaps such gaps, else the category's
--   median gap (all users' gaps in the window). due_date = last purchase day + round(cycle) days.
--   Listed once, on the run date that is $lead_days days before due_date (date_diff = $lead_days);
--   a user due in several categories on that day is listed for the first category by name.
-- parameters: $day_end (TIMESTAMP, first instant after the run date), $categories (VARCHAR[]),
--   $lookback_days, $min_gaps, $lead_days (INTEGER)
-- invariants: one row per user; due_date = run date + $lead_days.
with purchase_days as (
    select distinct user_id, category, order_date
    from fct_order_lines
    where
        list_contains($categories, category)
        and ordered_at < $day_end
        and ordered_at >= $day_end - to_days(cast($lookback_days as integer))
),

gaps as (
    select
        *,
        date_diff('day', lag(order_date) over (partition by user_id, category order by order_date), order_date)
            as gap
    from purchase_days
),

category_cycle as (
    select category, median(gap) as category_cycle_days from gaps where gap is not null group by category
),

per_user as (
    select user_id, category, max(order_date) as last_date, count(gap) as n_gaps, median(gap) as own_days
    from gaps
    group by user_id, category
),

due as (
    select
        p.user_id,
        p.category,
        p.last_date,
        p.n_gaps >= $min_gaps as is_own,
        case when p.n_gaps >= $min_gaps then p.own_days else c.category_cycle_days end as cycle_days
    from per_user as p
    inner join category_cycle as c using (category)
),

final as (
    select *, last_date + cast(round(cycle_days) as integer) as due_date
    from due
    where cycle_days is not null
)

select
    user_id,
    cast(null as bigint) as coupon_id,
    cast(null as decimal(12, 2)) as coupon_value,
    category as detail,
    format(
        '{}: last bought {}, {} cycle {} days, due {}',
        category, strftime(last_date, '%Y-%m-%d'), case when is_own then 'own' else 'category' end,
        round(cycle_days, 1), strftime(due_date, '%Y-%m-%d')
    ) as reason
from final
where date_diff('day', cast($day_end as date) - 1, due_date) = $lead_days
qualify row_number() over (partition by user_id order by category) = 1
order by user_id
