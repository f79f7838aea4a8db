-- grain: one row per customer (user with a first order date in [$from_date, $to_date) and
--   before $cal_end)
-- definition: the BG/NBD + Gamma-Gamma input, at day level (a purchase = a calendar day with
--   at least one order: fct_user_days, built at load). Calibration = order days in
--   [first_order_date, $cal_end):
--   frequency = purchase days after the first one, recency = days from the first to the last
--   purchase day, T = days from the first purchase day to $cal_end, monetary = mean GMV of the
--   repeat purchase days (0 when frequency = 0), first_gmv = GMV of the first day,
--   gmv_cal = GMV of all calibration days. gmv_horizon / margin_horizon = paid GMV / gross margin
--   (fct_order_margin: paid GMV - cost of goods; where the cost of goods is unknown, paid GMV x
--   $assumed_margin_rate, or null when that is null) of calibration days before
--   first_order_date + $horizon_days; gmv_assumed_horizon = the part of gmv_horizon without a
--   known cost of goods; pack_horizon = face value of new-user pack coupons (kind in
--   $new_user_kinds) redeemed on those orders (the acquisition-coupon discounts inside them). Holdout = [$cal_end, $holdout_end): holdout_days
--   (purchase days) and holdout_gmv; zero when $holdout_end = $cal_end.
-- parameters: $from_date, $to_date (DATE, first-order date range), $cal_end, $holdout_end
--   (DATE, exclusive ends), $horizon_days (INTEGER), $assumed_margin_rate (DOUBLE or null,
--   params experiments.assumed_margin_rate), $new_user_kinds (VARCHAR[], params
--   data.new_user_coupon_kinds)
-- invariants: 0 <= recency <= T - 1 (T >= 1); frequency = 0 implies recency = 0 and
--   monetary = 0; gmv_cal = first_gmv + frequency x monetary.
with customers as (
    select user_id, channel, first_order_date
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date and first_order_date < $cal_end
),

pack_by_day as (
    -- new-user pack discounts per user x day of the order that redeemed them
    select o.user_id, o.order_date, sum(c.face_value) as pack
    from fct_coupons as c
    inner join fct_orders as o on o.order_id = c.redeemed_order_id
    where list_contains($new_user_kinds, c.kind) and c.is_redeemed
    group by all
),

days as (
    -- the customers' purchase days (fct_user_days, built at load); margin = the known gross margin
    -- plus the paid GMV without a cost of goods x $assumed_margin_rate (with no rate, the known
    -- margin alone: null on a day none of whose orders has a cost of goods)
    select
        d.user_id,
        d.activity_date as order_date,
        d.paid_gmv as gmv,
        case
            when cast($assumed_margin_rate as double) is null then d.known_margin
            else coalesce(d.known_margin, 0) + d.gmv_assumed * cast($assumed_margin_rate as double)
        end as margin,
        d.gmv_assumed,
        coalesce(p.pack, 0) as pack
    from fct_user_days as d
    inner join customers as c using (user_id)
    left join pack_by_day as p on p.user_id = d.user_id and p.order_date = d.activity_date
    where d.n_orders > 0 and d.activity_date < greatest(cast($holdout_end as date), cast($cal_end as date))
),

per_customer as (
    select
        c.user_id,
        c.channel,
        c.first_order_date,
        count(*) filter (where d.order_date < $cal_end) - 1 as frequency,
        max(d.order_date) filter (where d.order_date < $cal_end) as last_cal_date,
        date_diff('day', c.first_order_date, cast($cal_end as date)) as T,
        sum(d.gmv) filter (where d.order_date = c.first_order_date) as first_gmv,
        sum(d.gmv) filter (where d.order_date < $cal_end) as gmv_cal,
        sum(d.gmv) filter (where d.order_date < $cal_end and d.order_date < c.first_order_date + $horizon_days)
            as gmv_horizon,
        case
            when count(*) filter (where d.order_date < $cal_end and d.margin is null) = 0
                then sum(d.margin) filter (
                    where d.order_date < $cal_end and d.order_date < c.first_order_date + $horizon_days
                )
        end as margin_horizon,
        sum(d.gmv_assumed) filter (
            where d.order_date < $cal_end and d.order_date < c.first_order_date + $horizon_days
        ) as gmv_assumed_horizon,
        sum(d.pack) filter (
            where d.order_date < $cal_end and d.order_date < c.first_order_date + $horizon_days
        ) as pack_horizon,
        count(*) filter (where d.order_date >= $cal_end) as holdout_days,
        coalesce(sum(d.gmv) filter (where d.order_date >= $cal_end), 0) as holdout_gmv
    from customers as c
    inner join days as d using (user_id)
    group by all
),

final as (
    select
        user_id,
        channel,
        first_order_date,
        cast(frequency as double) as frequency,
        cast(date_diff('day', first_order_date, last_cal_date) as double) as recency,
        cast(T as double) as T,
        cast(case when frequency > 0 then (gmv_cal - first_gmv) / frequency else 0 end as double) as monetary,
        cast(first_gmv as double) as first_gmv,
        cast(gmv_cal as double) as gmv_cal,
        cast(gmv_horizon as double) as gmv_horizon,
        cast(margin_horizon as double) as margin_horizon,
        cast(gmv_assumed_horizon as double) as gmv_assumed_horizon,
        cast(pack_horizon as double) as pack_horizon,
        holdout_days,
        cast(holdout_gmv as double) as holdout_gmv
    from per_customer
)

select * from final
order by user_id
