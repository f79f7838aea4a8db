-- grain: one row per buyer not churned at the month end $as_of (stages new, growth, mature, declining)
-- definition: how overdue each active buyer is against their own inter-order pattern, from
--   recall_user_stages (score defined in user_stages.sql): p_gap_at_least = P(a gap at least as
--   long as the current recency) under the user's shrunk exponential gap model; risk = 1 - that.
--   expected_gmv = posterior order-day rate x $horizon_days x the user's average order GMV;
--   value_at_stake = expected_gmv x risk (the ranking key). Two flags: the personal rule
--   (p_gap_at_least < $at_risk_p) and the single global threshold (recency >= $declining_days).
-- parameters: $as_of (DATE, a month end), $horizon_days (INTEGER), $at_risk_p (DOUBLE),
--   $declining_days (INTEGER)
-- invariants: one row per user; 0 <= risk <= 1; value_at_stake <= expected_gmv.
with stages as (
    select *
    from recall_user_stages
    where month_end = $as_of and stage in ('new', 'growth', 'mature', 'declining')
),

scored as (
    select
        user_id,
        stage,
        n_orders,
        n_gaps,
        is_personal,
        recency_days,
        usual_gap_days,
        p_gap_at_least,
        1 - p_gap_at_least as risk,
        gmv_to_date / n_orders as avg_order_gmv,
        rate_per_day * $horizon_days * gmv_to_date / n_orders as expected_gmv
    from stages
),

final as (
    select
        *,
        expected_gmv * risk as value_at_stake,
        p_gap_at_least < $at_risk_p as is_at_risk_personal,
        recency_days >= $declining_days as is_at_risk_global
    from scored
)

select * from final
order by value_at_stake desc, user_id
