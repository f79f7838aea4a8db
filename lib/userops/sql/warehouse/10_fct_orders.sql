-- grain: one row per order
-- definition: orders with per-user sequence facts, built once at load time:
--   order_date (calendar date of ordered_at), order_seq (1 = the user's first order;
--   ties on ordered_at broken by order_id), prev_ordered_at / next_ordered_at (the
--   user's neighbouring orders), days_since_prev / days_to_next (calendar-day gaps),
--   is_first_order.
-- parameters: none
-- invariants: one order_seq = 1 per ordering user; order_seq is gapless per user.
create table fct_orders as
with orders as (
    select * from orders
),

sequenced as (
    select
        *,
        cast(ordered_at as date) as order_date,
        row_number() over w as order_seq,
        lag(ordered_at) over w as prev_ordered_at,
        lead(ordered_at) over w as next_ordered_at
    from orders
    window w as (partition by user_id order by ordered_at, order_id)
),

final as (
    select
        *,
        date_diff('day', cast(prev_ordered_at as date), order_date) as days_since_prev,
        date_diff('day', order_date, cast(next_ordered_at as date)) as days_to_next,
        order_seq = 1 as is_first_order
    from sequenced
)

select * from final
order by user_id, order_seq
