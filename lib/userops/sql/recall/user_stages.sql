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

users as (
    select user_id, cast(registered_at as date) as registered_date, first_order_date
    from dim_users
),

-- a buyer's facts at a month end are those of their last month with an order up to it
-- (fct_user_months, built at load: to date, and in the month when it is that month)
to_date as (
    select
        m.month_start,
        f.user_id,
        f.n_orders,
        f.last_order_date,
        f.n_gaps,
        f.gap_days_sum,
        f.usual_gap_days,
        f.gmv_to_date,
        case when f.month_start = m.month_start then f.orders_month else 0 end as orders_month,
        case when f.month_start = m.month_start then f.gmv_month else 0 end as gmv_month
    from months as m
    inner join fct_user_months as f
        on f.month_start <= m.month_start and coalesce(f.next_month_start, date '9999-12-01') > m.month_start
),

chain_gap as (
    select month_start, sum(gap_days_sum) / nullif(sum(n_gaps), 0) as chain_mean_gap_days
    from to_date
    group by month_start
),

-- a buyer's month ends (orders up to the month end); the other month ends of a registered user are
-- prospect rows, built apart: no join of every user-month against to_date
ordered as (
    select
        t.user_id,
        t.month_start,
        m.month_end,
        u.first_order_date,
        t.n_orders,
        t.last_order_date,
        t.n_gaps,
        t.gap_days_sum,
        t.usual_gap_days,
        t.orders_month,
        t.gmv_month,
        t.gmv_to_date
    from to_date as t
    inner join users as u using (user_id)
    inner join months as m using (month_start)
),

prospects as (
    select
        u.user_id,
        m.month_start,
        m.month_end,
        u.first_order_date,
        0 as n_orders,
        cast(null as date) as last_order_date,
        0 as n_gaps,
        0 as gap_days_sum,
        cast(null as double) as usual_gap_days,
        0 as orders_month,
        0 as gmv_month,
        0 as gmv_to_date
    from users as u
    inner join months as m
        on u.registered_date <= m.month_end and (u.first_order_date is null or u.first_order_date > m.month_end)
),

facts as (
    select
        f.*,
        date_diff('day', f.last_order_date, f.month_end) as recency_days,
        f.n_gaps >= $min_gaps as is_personal,
        $prior_gaps * coalesce(g.chain_mean_gap_days, 30) as prior_gap_days
    from (select * from ordered union all select * from prospects) as f
    left join chain_gap as g on g.month_start = f.month_start
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

-- a prospect was a prospect (or not registered) the month before: the window runs over buyers only
with_prev as (
    select
        *,
        coalesce(lag(stage) over (partition by user_id order by month_start), 'prospect') as stage_prev
    from staged
    where n_orders > 0
    union all
    select *, 'prospect' as stage_prev
    from staged
    where n_orders = 0
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

-- no order by: the rows only go into the temp table recall_user_stages (recall.build_stages), which
-- every reader filters, groups and orders itself; sorting 5.7M rows at 1M users cost 1.5-3 CPU s
select * from final
where month_start >= $from_month
