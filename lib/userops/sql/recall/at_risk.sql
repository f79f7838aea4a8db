-- grain: one row per buyer (a user with an order by the month end $as_of), every stage but prospect
-- definition: the inputs of the at-risk ranking, from recall_user_stages at $as_of (stage, recency,
--   the personal overdue score of user_stages.sql) and the money of fct_order_margin to date (from
--   fct_user_months) at day level (a purchase = a calendar day with at least one order, as in
--   acquisition/rfm_summary.sql):
--   frequency = purchase days after the first, recency = days from the first to the last purchase
--   day, T = days from the first purchase day to the day after $as_of (BG/NBD inputs, fitted and
--   scored in userops.recall.buyer_values); margin_per_day = gross margin per purchase day (paid
--   GMV - cost of goods; paid GMV x $assumed_margin_rate where the cost of goods is unknown);
--   gmv and gmv_assumed = paid GMV and its part without a cost of goods (the margin basis).
--   is_active = not churned. Two at-risk flags: the personal rule (p_gap_at_least < $at_risk_p)
--   and the single global threshold (recency >= $declining_days), both false for churned users.
-- parameters: $as_of (DATE, a month end), $at_risk_p, $assumed_margin_rate (DOUBLE),
--   $declining_days (INTEGER)
-- invariants: one row per buyer; 0 <= recency <= T - 1; frequency + 1 purchase days; 0 <=
--   gmv_assumed <= gmv.
with stages as (
    select *
    from recall_user_stages
    where month_end = $as_of and stage <> 'prospect'
),

-- the user's facts to date from fct_user_months (built at load): their last month with an order up
-- to $as_of. A purchase day is a distinct order day, so purchase days = n_gaps + 1 (gaps are the
-- days between distinct order days); margin = known gross margin + assumed margin on the rest
to_date as (
    select
        user_id,
        margin_known_to_date + gmv_assumed_to_date * $assumed_margin_rate as margin,
        gmv_assumed_to_date as gmv_assumed
    from fct_user_months
    where month_start <= $as_of and coalesce(next_month_start, date '9999-12-01') > $as_of
),

per_user as (
    select
        s.user_id,
        s.n_gaps as frequency,
        date_diff('day', d.first_order_date, s.last_order_date) as recency,
        date_diff('day', d.first_order_date, cast($as_of as date)) + 1 as T,
        t.margin / (s.n_gaps + 1) as margin_per_day,
        s.gmv_to_date as gmv,
        t.gmv_assumed
    from stages as s
    inner join dim_users as d using (user_id)
    inner join to_date as t using (user_id)
),

final as (
    select
        s.user_id,
        s.stage,
        s.stage <> 'churned' as is_active,
        s.n_orders,
        s.n_gaps,
        s.is_personal,
        s.recency_days,
        s.usual_gap_days,
        s.p_gap_at_least,
        s.rate_per_day,
        cast(u.frequency as double) as frequency,
        cast(u.recency as double) as recency,
        cast(u.T as double) as T,
        cast(u.margin_per_day as double) as margin_per_day,
        cast(u.gmv as double) as gmv,
        cast(u.gmv_assumed as double) as gmv_assumed,
        s.stage <> 'churned' and s.p_gap_at_least < $at_risk_p as is_at_risk_personal,
        s.stage <> 'churned' and s.recency_days >= $declining_days as is_at_risk_global
    from stages as s
    inner join per_user as u using (user_id)
)

select * from final
order by user_id
