-- grain: one row per month x stage (prospect, new, growth, mature, declining, churned)
-- definition: users in each lifecycle stage at each month end of [$from_month, $to_month], from
--   recall_user_stages (the stage rule is stated once, in user_stages.sql), with their orders
--   and GMV in the month. Zero-filled: a stage without users is a 0 row.
-- parameters: $from_month, $to_month (DATE, first days of months)
-- invariants: 6 rows per month; sum of n_users per month = users registered (or ordering) by
--   the month end; gmv of 'prospect' is 0.
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

counts as (
    select month_start, stage, count(*) as n_users, sum(orders_month) as orders, sum(gmv_month) as gmv
    from stages
    group by all
),

final as (
    select
        m.month_start,
        s.stage,
        s.stage_order,
        coalesce(c.n_users, 0) as n_users,
        coalesce(c.orders, 0) as orders,
        coalesce(c.gmv, 0) as gmv
    from month_spine as m
    cross join stage_spine as s
    left join counts as c on c.month_start = m.month_start and c.stage = s.stage
)

select * from final
order by month_start, stage_order
