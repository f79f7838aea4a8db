-- grain: one row per scene (level 'category': each product category; level 'product': each
--   product whose name matches $product_pattern, e.g. milk powder) x duration_days x observed
-- definition: inter-purchase intervals for Kaplan-Meier. A purchase is a user's day with a
--   line of the scene, on days in [$from_date, $as_of]. From each purchase, the calendar days to
--   the user's next purchase of the same scene (observed = true) or, when none is seen by
--   $as_of or within $horizon days, the days observed so far (censored: observed = false,
--   duration = least($as_of - purchase day, $horizon)). n = purchases at each (duration,
--   observed); feed as weights to a Kaplan-Meier fit. Purchases on $as_of itself are censored
--   at 0 days and dropped (they carry no information).
-- parameters: $from_date (DATE), $as_of (DATE, last observed day), $horizon (INTEGER days),
--   $product_pattern (VARCHAR, SQL LIKE pattern on product names)
-- invariants: duration_days between 1 and $horizon; sum(n) = purchases before $as_of.
with lines as (
    select user_id, category, product_id, product_name, order_date
    from fct_order_lines
    where order_date >= $from_date and order_date <= $as_of
),

category_days as (
    select distinct user_id, category as scene, order_date
    from lines
),

product_days as (
    select distinct user_id, product_id as scene, product_name as scene_name, order_date
    from lines
    where product_name like $product_pattern
),

gaps as (
    -- one window per level (a partition never mixes levels): the category days' window sorts on
    -- (user, category) alone, not on a level text column over the union of both levels
    select
        'category' as level,
        scene,
        scene as scene_name,
        least(date_diff('day', order_date, cast($as_of as date)), $horizon) as observed_days,
        date_diff('day', order_date, lead(order_date) over (
            partition by user_id, scene order by order_date
        )) as days_to_next
    from category_days
    union all
    select
        'product' as level,
        scene,
        scene_name,
        least(date_diff('day', order_date, cast($as_of as date)), $horizon) as observed_days,
        date_diff('day', order_date, lead(order_date) over (
            partition by user_id, scene order by order_date
        )) as days_to_next
    from product_days
),

final as (
    select
        level,
        scene,
        scene_name,
        case when days_to_next <= observed_days then days_to_next else observed_days end as duration_days,
        coalesce(days_to_next <= observed_days, false) as observed,
        count(*) as n
    from gaps
    where observed_days > 0
    group by all
)

select * from final
order by level, scene, duration_days, observed
