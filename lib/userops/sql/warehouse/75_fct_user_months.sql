-- grain: one row per ordering user x calendar month with at least one of the user's orders
-- definition: the user's facts at the end of each month in which they ordered, built once at load
--   time (play 04's stages read them instead of joining every month end to every order):
--   in the month: orders_month, gmv_month (orders.gmv), last_order_date (the month's last order day);
--   to date (orders up to the month's last day): n_orders, gmv_to_date, n_gaps and gap_days_sum
--   (gaps = fct_orders.days_since_prev > 0: days between the user's distinct order days, so
--   n_gaps + 1 = distinct order days), usual_gap_days (the median gap, null without a gap),
--   margin_known_to_date (fct_order_margin.gross_margin of orders with a known cost of goods) and
--   gmv_assumed_to_date (paid GMV of orders without one: a metric applies its assumed margin rate).
--   next_month_start = the user's next month with an order (null after the last): the facts hold
--   unchanged at every month end in [month_start, next_month_start), with no order in those months.
-- parameters: none
-- invariants: one row per user x month_start; n_orders = sum of orders_month up to the row; n_gaps
--   < n_orders; the last row of a user has n_orders = dim_users.n_orders and next_month_start null.
create table fct_user_months as
with orders as (
    select
        user_id,
        cast(date_trunc('month', order_date) as date) as month_start,
        order_date,
        gmv,
        days_since_prev
    from fct_orders
),

margins as (
    select
        user_id,
        cast(date_trunc('month', ordered_at) as date) as month_start,
        coalesce(sum(gross_margin) filter (where cost_known), 0) as margin_known_month,
        coalesce(sum(paid_gmv) filter (where not cost_known), 0) as gmv_assumed_month
    from fct_order_margin
    group by user_id, month_start
),

per_month as (
    select
        user_id,
        month_start,
        count(*) as orders_month,
        sum(gmv) as gmv_month,
        max(order_date) as last_order_date,
        count(*) filter (where days_since_prev > 0) as gaps_month,
        coalesce(sum(days_since_prev) filter (where days_since_prev > 0), 0) as gap_days_month
    from orders
    group by user_id, month_start
),

to_date as (
    select
        m.user_id,
        m.month_start,
        lead(m.month_start) over w_user as next_month_start,
        m.orders_month,
        m.gmv_month,
        m.last_order_date,
        m.gaps_month,
        cast(sum(m.orders_month) over w_to_date as bigint) as n_orders,
        sum(m.gmv_month) over w_to_date as gmv_to_date,
        cast(sum(m.gaps_month) over w_to_date as bigint) as n_gaps,
        cast(sum(m.gap_days_month) over w_to_date as bigint) as gap_days_sum,
        sum(g.margin_known_month) over w_to_date as margin_known_to_date,
        sum(g.gmv_assumed_month) over w_to_date as gmv_assumed_to_date
    from per_month as m
    inner join margins as g on g.user_id = m.user_id and g.month_start = m.month_start
    window
        w_user as (partition by m.user_id order by m.month_start),
        w_to_date as (partition by m.user_id order by m.month_start rows between unbounded preceding and current row)
),

-- the median of every gap up to the month end, for the months that added a gap (each against the
-- user's gaps before its end); a month without a new gap has the median of the same n_gaps gaps
gap_medians as (
    select
        t.user_id,
        t.n_gaps,
        median(o.days_since_prev) as usual_gap_days
    from to_date as t
    inner join orders as o
        on o.user_id = t.user_id and o.month_start <= t.month_start and o.days_since_prev > 0
    where t.gaps_month > 0
    group by t.user_id, t.n_gaps
),

final as (
    select
        t.user_id,
        t.month_start,
        t.next_month_start,
        t.orders_month,
        t.gmv_month,
        t.last_order_date,
        t.n_orders,
        t.gmv_to_date,
        t.n_gaps,
        t.gap_days_sum,
        g.usual_gap_days,
        t.margin_known_to_date,
        t.gmv_assumed_to_date
    from to_date as t
    left join gap_medians as g on g.user_id = t.user_id and g.n_gaps = t.n_gaps
)

select * from final
order by user_id, month_start
