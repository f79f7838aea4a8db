-- grain: one row per user with at least one order in the window [$from_date, $to_date)
-- definition: RFM as of the end of the window. recency_days = days from the user's last order
--   date in the window to $as_of (0 = ordered on the last day); frequency = orders in the window;
--   monetary = paid GMV of those orders (yuan). Scores 1..$bins by rank among the window's
--   buyers: score = 1 + floor(percent_rank * $bins), capped at $bins, where percent_rank =
--   (rank - 1) / (buyers - 1) and rank() gives tied values the same (lowest) rank. Recency is
--   ranked descending (the most recent buyers score highest); frequency and monetary ascending.
-- parameters: $from_date, $to_date (DATE, half-open window), $as_of (DATE, last day of the window),
--   $bins (INTEGER, number of score levels, 5 = quintiles)
-- invariants: 1 <= r_score, f_score, m_score <= $bins; users with equal values get equal scores;
--   a higher frequency (monetary) never gets a lower score, a smaller recency never a lower one.
with orders as (
    select user_id, order_date, gmv
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

per_user as (
    select
        user_id,
        date_diff('day', max(order_date), cast($as_of as date)) as recency_days,
        count(*) as frequency,
        sum(gmv) as monetary
    from orders
    group by user_id
),

ranked as (
    select
        *,
        percent_rank() over (order by recency_days desc) as r_rank,
        percent_rank() over (order by frequency) as f_rank,
        percent_rank() over (order by monetary) as m_rank
    from per_user
),

final as (
    select
        user_id,
        recency_days,
        frequency,
        cast(monetary as double) as monetary,
        cast(least($bins, 1 + floor(r_rank * $bins)) as integer) as r_score,
        cast(least($bins, 1 + floor(f_rank * $bins)) as integer) as f_score,
        cast(least($bins, 1 + floor(m_rank * $bins)) as integer) as m_score
    from ranked
)

select * from final
order by user_id
