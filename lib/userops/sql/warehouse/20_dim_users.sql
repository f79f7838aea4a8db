-- grain: one row per registered user
-- definition: users with their first-order facts, built once at load time:
--   first_order_at/_date/_id, first_order_channel, first_store_id, first_order_gmv,
--   second_order_at/_date (the user's order_seq = 2), n_orders, total_gmv,
--   last_order_at/_date, cohort_month (month of the first order; null for users who
--   never ordered).
-- parameters: none
-- invariants: n_orders = count of the user's rows in fct_orders (0 when none).
create table dim_users as
with users as (
    select * from users
),

orders as (
    select * from fct_orders
),

per_user as (
    select
        user_id,
        count(*) as n_orders,
        sum(gmv) as total_gmv,
        max(ordered_at) as last_order_at
    from orders
    group by user_id
),

firsts as (
    select
        user_id,
        order_id as first_order_id,
        ordered_at as first_order_at,
        order_date as first_order_date,
        order_channel as first_order_channel,
        store_id as first_store_id,
        gmv as first_order_gmv
    from orders
    where order_seq = 1
),

seconds as (
    select user_id, ordered_at as second_order_at, order_date as second_order_date
    from orders
    where order_seq = 2
),

final as (
    select
        u.*,
        f.first_order_id,
        f.first_order_at,
        f.first_order_date,
        f.first_order_channel,
        f.first_store_id,
        f.first_order_gmv,
        cast(date_trunc('month', f.first_order_date) as date) as cohort_month,
        s.second_order_at,
        s.second_order_date,
        coalesce(p.n_orders, 0) as n_orders,
        coalesce(p.total_gmv, 0) as total_gmv,
        p.last_order_at,
        cast(p.last_order_at as date) as last_order_date
    from users as u
    left join firsts as f using (user_id)
    left join seconds as s using (user_id)
    left join per_user as p using (user_id)
)

select * from final
order by user_id
