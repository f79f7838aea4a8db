-- grain: one row per buyer x month (the users with an order in the month)
-- definition: THE 30-day repurchase (N = $days) of the playbook, shared by play 03's repurchase
--   rate (activity/repurchase_within) and the brief's key path "buy again" step
--   (brief/key_path_funnel), which include this file. Each buyer of a month in
--   [$from_date, $to_date) is anchored at their first order of the month (earliest ordered_at,
--   then order_id). is_repurchased = the user's next order (any later order, same day
--   included) came within $days x 24 h of the anchor. is_eligible = the whole window is
--   observed by the end of $as_of (anchor + $days days < $as_of + 1 day); a rate counts eligible
--   buyers only, so a buyer late in the month is never counted as "not yet back".
--   window_closes_on = the day the window ends (cast(anchor + $days days as date)): the buyer is
--   eligible at any as-of day on or after it (is_eligible = window_closes_on <= $as_of).
-- parameters: $from_date, $to_date (DATE, first days of months), $days (INTEGER),
--   $as_of (DATE, last observed day)
-- invariants: one row per user_id x month; is_repurchased, is_eligible and window_closes_on never
--   NULL; is_eligible = (window_closes_on <= $as_of).
with anchors as (
    select
        user_id,
        cast(date_trunc('month', order_date) as date) as month,
        ordered_at as anchor_at,
        order_channel as anchor_channel,
        next_ordered_at
    from fct_orders
    where
        order_date >= $from_date and order_date < $to_date
        -- the first order of the user's month: the one before it in fct_orders' sequence (ordered_at,
        -- then order_id: prev_ordered_at) is in an earlier month, or there is none
        and (prev_ordered_at is null or prev_ordered_at < cast(date_trunc('month', order_date) as timestamp))
),

final as (
    select
        user_id,
        month,
        anchor_at,
        anchor_channel,
        anchor_at + to_days($days) < cast($as_of as timestamp) + interval 1 day as is_eligible,
        cast(anchor_at + to_days($days) as date) as window_closes_on,
        coalesce(next_ordered_at <= anchor_at + to_days($days), false) as is_repurchased
    from anchors
)

select * from final
