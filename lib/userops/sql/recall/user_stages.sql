-- grain: one row per registered user x month end, months [$from_month, $to_month] (first days);
--   built by recall.build_stages into the temp table recall_user_stages that the other recall
--   metrics read.
-- definition: facts at each month end (orders up to the end of the month's last day):
--   n_orders, recency_days (month end - last order date), gaps = days between the user's distinct
--   order days (days_since_prev > 0), n_gaps, usual_gap_days (median gap), gmv_month /
--   orders_month (in the month), gmv_to_date. Stage, first rule that applies:
--   prospect  = no order yet (registered by the month end);
--   new       = first order in the month;
--   churned   = recency >= churned_after_days: $churned_days for everyone, or, for users with
--               >= $min_gaps gaps (personal rule), max($k_churned x median gap, $churned_floor_days)
--               when that is shorter;
--   declining = recency >= declining_after_days: personal max($k_declining x median gap,
--               $declining_floor_days), global fallback $declining_days;
--   growth    = first order less than $growth_days days ago and fewer than $growth_max_orders orders;
--   mature    = everyone else (a repeat buyer ordering within their own usual gap).
--   stage_prev = the stage at the previous month end ('prospect' when not yet registered).
--   is_reactivated = churned at the previous month end and at least one order in the month: the
--   one definition of a reactivated (唤醒) user, used by play 04 and by the brief's tile and its
--   dormant group (dormant = churned at the previous month end).
--   At-risk score: each user's order rate is Gamma(a + n_gaps, b + gap days) with the prior
--   a = $prior_gaps pseudo-gaps of the chain's mean gap at that month end (b = a x mean gap), so
--   p_gap_at_least = P(a gap >= recency) = ((b + S) / (b + S + recency))^(a + n) (exponential gaps,
--   Lomax predictive); users with few gaps fall back towards the chain's gap distribution.
--   rate_per_day = (a + n) / (b + S), the posterior mean order-day rate.
-- parameters: $from_month, $to_month (DATE), $k_declining, $k_churned, $prior_gaps (DOUBLE),
--   $declining_floor_days, $churned_floor_days, $declining_days, $churned_days, $min_gaps,
--   $growth_days, $growth_max_orders (INTEGER)
-- invariants: one row per user x month; users stay in every later month; stage 'new' iff the
--   first order is in the month; stage_prev of the first month is the stage the month before;
--   is_reactivated implies stage_prev = 'churned' and orders_month > 0.
with months as (
    select
        cast(range as date) as month_start,
        cast(range + interval 1 month - interval 1 day as date) as month_end
    from range(
        cast($from_month as timestamp) - interval 1 month,
        cast($to_month as timestamp) + interval 1 day,
        interval 1 month
    )
),

bounds as (
    select min(month_start) as first_month, max(month_end) as last_day from months
),

users as (
    select user_id, cast(registered_at as date) as registered_date, first_order_date
    from dim_users
),

user_months as (
    select u.user_id, u.first_order_date, m.month_start, m.month_end
    from users as u
    inner join months as m on u.registered_date <= m.month_end or u.first_order_date <= m.month_end
),

order_days as (
    -- one row per user x order day up to the last month end: the day's orders and GMV, the gap
    -- from the previous order day (only a day's first order has days_since_prev > 0) and the
    -- median of the user's gaps up to that day; days before the first month count in it
    select
        user_id,
        order_date,
        greatest(cast(date_trunc('month', order_date) as date), b.first_month) as month_start,
        n,
        gmv,
        gap,
        median(gap) over (
            partition by user_id order by order_date rows between unbounded preceding and current row
        ) as gap_median
    from (
        select
            user_id,
            order_date,
            count(*) as n,
            sum(gmv) as gmv,
            max(days_since_prev) filter (where days_since_prev > 0) as gap
        from fct_orders
        where order_date <= (select last_day from bounds)
        group by user_id, order_date
    )
    cross join bounds as b
),

user_month_orders as (
    select
        user_id,
        month_start,
        sum(n) as n,
        sum(gmv) as gmv,
        count(gap) as n_gaps,
        sum(gap) as gap_days,
        max(order_date) as last_order_date,
        arg_max(gap_median, order_date) as gap_median
    from order_days
    group by user_id, month_start
),

to_date as (
    -- facts at each month end: running sums over the user's months, the last order day and the
    -- gap median carried forward (one pass over the user x month rows, no re-aggregation of all
    -- earlier orders for every month)
    select
        um.user_id,
        um.month_start,
        um.month_end,
        um.first_order_date,
        cast(coalesce(sum(o.n) over w, 0) as bigint) as n_orders,
        last_value(o.last_order_date ignore nulls) over w as last_order_date,
        cast(coalesce(sum(o.n_gaps) over w, 0) as bigint) as n_gaps,
        coalesce(sum(o.gap_days) over w, 0) as gap_days_sum,
        last_value(o.gap_median ignore nulls) over w as usual_gap_days,
        coalesce(sum(o.gmv) over w, 0) as gmv_to_date,
        cast(coalesce(o.n, 0) as bigint) as orders_month,
        coalesce(o.gmv, 0) as gmv_month
    from user_months as um
    left join user_month_orders as o on o.user_id = um.user_id and o.month_start = um.month_start
    window w as (partition by um.user_id order by um.month_start rows between unbounded preceding and current row)
),

chain_gap as (
    select month_start, sum(gap_days_sum) / nullif(sum(n_gaps), 0) as chain_mean_gap_days
    from to_date
    where n_orders > 0
    group by month_start
),

facts as (
    select
        t.user_id,
        t.month_start,
        t.month_end,
        t.first_order_date,
        t.n_orders,
        t.last_order_date,
        date_diff('day', t.last_order_date, t.month_end) as recency_days,
        t.n_gaps,
        t.gap_days_sum,
        t.usual_gap_days,
        t.n_gaps >= $min_gaps as is_personal,
        t.orders_month,
        t.gmv_month,
        t.gmv_to_date,
        $prior_gaps * coalesce(g.chain_mean_gap_days, 30) as prior_gap_days
    from to_date as t
    left join chain_gap as g on g.month_start = t.month_start
),

thresholds as (
    select
        *,
        case
            when is_personal then least(greatest($k_churned * usual_gap_days, $churned_floor_days), $churned_days)
            else $churned_days
        end as churned_after_days,
        case
            when is_personal then greatest($k_declining * usual_gap_days, $declining_floor_days)
            else $declining_days
        end as declining_after_days,
        power(
            (prior_gap_days + gap_days_sum) / (prior_gap_days + gap_days_sum + recency_days),
            $prior_gaps + n_gaps
        ) as p_gap_at_least,
        ($prior_gaps + n_gaps) / (prior_gap_days + gap_days_sum) as rate_per_day
    from facts
),

staged as (
    select
        *,
        case
            when n_orders = 0 then 'prospect'
            when first_order_date >= month_start then 'new'
            when recency_days >= churned_after_days then 'churned'
            when recency_days >= declining_after_days then 'declining'
            when date_diff('day', first_order_date, month_end) < $growth_days
                and n_orders < $growth_max_orders then 'growth'
            else 'mature'
        end as stage
    from thresholds
),

with_prev as (
    select
        *,
        coalesce(lag(stage) over (partition by user_id order by month_start), 'prospect') as stage_prev
    from staged
),

final as (
    select
        user_id,
        month_start,
        month_end,
        stage,
        stage_prev,
        stage_prev = 'churned' and orders_month > 0 as is_reactivated,
        n_orders,
        last_order_date,
        recency_days,
        n_gaps,
        usual_gap_days,
        is_personal,
        declining_after_days,
        churned_after_days,
        p_gap_at_least,
        rate_per_day,
        orders_month,
        gmv_month,
        gmv_to_date
    from with_prev
)

select * from final
where month_start >= $from_month
order by user_id, month_start
