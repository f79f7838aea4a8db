-- grain: one row per user who fell silent beyond their usual gap on the run date
-- definition: the churn rule of play 04 (sql/recall/user_stages.sql) applied daily. From the orders
--   before $day_end: gaps = days between the user's distinct order days; users with at least
--   $min_gaps gaps have the personal threshold least(greatest($k_churned x median gap,
--   $churned_floor_days), $churned_days), everyone else $churned_days. recency = run date - last
--   order day. Listed once, on the day recency first reaches the threshold
--   (recency = ceil(threshold)). detail = the user's top category by lines (ties by name), for the
--   content key.
-- parameters: $day_end (TIMESTAMP, first instant after the run date), $k_churned (DOUBLE),
--   $churned_floor_days, $churned_days, $min_gaps (INTEGER)
-- invariants: one row per user; recency = ceil(threshold) days.
with gaps as (
    -- the user's order days before the run date's end (fct_user_days, built at load: $day_end is
    -- a midnight) and the gap from each one's previous order day
    select user_id, activity_date as order_date, date_diff('day', prev_order_date, activity_date) as gap
    from fct_user_days
    where n_orders > 0 and activity_date < cast($day_end as date)
),

per_user as (
    select user_id, max(order_date) as last_date, count(gap) as n_gaps, median(gap) as usual_gap
    from gaps
    group by user_id
),

thresholds as (
    select
        *,
        date_diff('day', last_date, cast($day_end as date) - 1) as recency_days,
        case
            when n_gaps >= $min_gaps
                then least(greatest($k_churned * usual_gap, $churned_floor_days), $churned_days)
            else $churned_days
        end as threshold_days
    from per_user
),

top_category as (
    select user_id, category
    from fct_order_lines
    where ordered_at < $day_end and user_id in (select user_id from thresholds where recency_days = ceil(threshold_days))
    group by user_id, category
    qualify row_number() over (partition by user_id order by count(*) desc, category) = 1
)

select
    t.user_id,
    cast(null as bigint) as coupon_id,
    cast(null as decimal(12, 2)) as coupon_value,
    coalesce(c.category, 'none') as detail,
    format(
        'no order for {} days (last {}); usual gap {} -> silent after {} days',
        t.recency_days, strftime(t.last_date, '%Y-%m-%d'),
        case when t.n_gaps >= $min_gaps then format('{} days', round(t.usual_gap, 1)) else 'unknown' end,
        cast(ceil(t.threshold_days) as integer)
    ) as reason
from thresholds as t
left join top_category as c using (user_id)
where t.recency_days = ceil(t.threshold_days)
order by t.user_id
