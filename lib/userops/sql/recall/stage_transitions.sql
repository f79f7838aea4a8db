-- grain: one row per month x stage at the previous month end (stage_prev) x stage at this month end
-- definition: month-to-month moves between lifecycle stages for the months [$from_month,
--   $to_month], from recall_user_stages (rule in user_stages.sql). n_users moved from stage_prev
--   to stage; orders and gmv are what those users bought in the month (e.g. churned -> mature
--   is the GMV won back from last month's churned users). 'prospect' -> 'new' holds the month's
--   new users, including those registered in the month. reactivated = users of the move with
--   is_reactivated (user_stages.sql: churned at the previous month end, ordered in the month).
--   Zero-filled against months x 6 x 6.
-- parameters: $from_month, $to_month (DATE, first days of months)
-- invariants: 36 rows per month; sum of n_users per month = the month's users in stage_sizes;
--   moves into 'new' only come from 'prospect'; reactivated > 0 only on rows from 'churned'.
with stages as (
    select * from recall_user_stages
),

month_spine as (
    select cast(range as date) as month_start
    from range(cast($from_month as timestamp), cast($to_month as timestamp) + interval 1 day, interval 1 month)
),

stage_spine as (
    select *
    from (
        values ('prospect', 0), ('new', 1), ('growth', 2), ('mature', 3), ('declining', 4), ('churned', 5)
    ) as s (stage, stage_order)
),

moves as (
    select
        month_start,
        stage_prev,
        stage,
        count(*) as n_users,
        count(*) filter (where is_reactivated) as reactivated,
        sum(orders_month) as orders,
        sum(gmv_month) as gmv
    from stages
    group by all
),

final as (
    select
        m.month_start,
        p.stage as stage_prev,
        s.stage,
        p.stage_order as stage_prev_order,
        s.stage_order,
        coalesce(v.n_users, 0) as n_users,
        coalesce(v.reactivated, 0) as reactivated,
        coalesce(v.orders, 0) as orders,
        coalesce(v.gmv, 0) as gmv
    from month_spine as m
    cross join stage_spine as p
    cross join stage_spine as s
    left join moves as v
        on v.month_start = m.month_start and v.stage_prev = p.stage and v.stage = s.stage
)

select * from final
order by month_start, stage_prev_order, stage_order
