-- grain: one row per user x activity_date (a calendar day on which the user placed at least one
--   order or left at least one event)
-- definition: the user-days every day-level metric starts from, built once at load time (a
--   purchase day = a calendar day with at least one order; an active day = one with an order or,
--   second definition, any event). n_orders = the day's orders (0 on a day with events only);
--   on the money basis of fct_order_margin: paid_gmv = the day's paid GMV, known_margin = the
--   gross margin (paid GMV - cost of goods) of the day's orders whose cost of goods is known (null
--   when none of them is), gmv_assumed = the paid GMV of the day's orders without a known cost of
--   goods (a metric adds gmv_assumed x params experiments.assumed_margin_rate; 0 when every order's
--   cost is known). prev_order_date / next_order_date = the user's order days before and after
--   this one (null on a day without an order, and before the first / after the last). has_event =
--   the user left any event that day; prev_event_date / next_event_date = the user's event days
--   before and after it (null on a day without an event).
-- parameters: none
-- invariants: one row per (user_id, activity_date); n_orders > 0 or has_event; n_orders = 0
--   implies paid_gmv = 0, gmv_assumed = 0 and known_margin, prev_order_date, next_order_date
--   null; 0 <= gmv_assumed <= paid_gmv; prev_order_date < activity_date < next_order_date.
create table fct_user_days as
with order_days as (
    select
        user_id,
        cast(ordered_at as date) as activity_date,
        count(*) as n_orders,
        cast(sum(paid_gmv) as decimal(18, 2)) as paid_gmv,
        cast(sum(gross_margin) as decimal(18, 2)) as known_margin,
        cast(coalesce(sum(paid_gmv) filter (where not cost_known), 0) as decimal(18, 2)) as gmv_assumed
    from fct_order_margin
    group by all
),

order_neighbours as (
    select
        *,
        lag(activity_date) over w as prev_order_date,
        lead(activity_date) over w as next_order_date
    from order_days
    window w as (partition by user_id order by activity_date)
),

event_days as (
    select distinct user_id, cast(ts as date) as activity_date
    from events
),

event_neighbours as (
    select
        *,
        lag(activity_date) over w as prev_event_date,
        lead(activity_date) over w as next_event_date
    from event_days
    window w as (partition by user_id order by activity_date)
),

final as (
    select
        coalesce(o.user_id, e.user_id) as user_id,
        coalesce(o.activity_date, e.activity_date) as activity_date,
        coalesce(o.n_orders, 0) as n_orders,
        coalesce(o.paid_gmv, cast(0 as decimal(18, 2))) as paid_gmv,
        o.known_margin,
        coalesce(o.gmv_assumed, cast(0 as decimal(18, 2))) as gmv_assumed,
        o.prev_order_date,
        o.next_order_date,
        e.user_id is not null as has_event,
        e.prev_event_date,
        e.next_event_date
    from order_neighbours as o
    full outer join event_neighbours as e
        on o.user_id = e.user_id and o.activity_date = e.activity_date
)

select * from final
order by user_id, activity_date
