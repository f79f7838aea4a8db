-- grain: one row per customer (user with a first order date in [$from_date, $to_date) and
--   before $cal_end)
-- definition: the BG/NBD + Gamma-Gamma input, at day level (a purchase = a calendar day with
--   at least one order). Calibration = order days in [first_order_date, $cal_end):
--   frequency = purchase days after the first one, recency = days from the first to the last
--   purchase day, T = days from the first purchase day to $cal_end, monetary = mean GMV of the
--   repeat purchase days (0 when frequency = 0), first_gmv = GMV of the first day,
--   gmv_cal = GMV of all calibration days. gmv_horizon / margin_horizon = GMV / gross margin
--   (GMV - cost of goods, null without order lines or unit costs) of calibration days before
--   first_order_date + $horizon_days. Holdout = [$cal_end, $holdout_end): holdout_days
--   (purchase days) and holdout_gmv; zero when $holdout_end = $cal_end.
-- parameters: $from_date, $to_date (DATE, first-order date range), $cal_end, $holdout_end
--   (DATE, exclusive ends), $horizon_days (INTEGER)
-- invariants: 0 <= recency <= T - 1 (T >= 1); frequency = 0 implies recency = 0 and
--   monetary = 0; gmv_cal = first_gmv + frequency x monetary.
with customers as (
    select user_id, channel, first_order_date
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date and first_order_date < $cal_end
),

order_margin as (
    -- gross margin of an order: paid GMV minus cost of goods (line amount - line margin)
    select order_id, sum(amount - margin_yuan) as cogs
    from fct_order_lines
    group by order_id
),

days as (
    select
        o.user_id,
        o.order_date,
        sum(o.gmv) as gmv,
        case when count(m.cogs) = count(*) then sum(o.gmv - m.cogs) end as margin
    from fct_orders as o
    inner join customers as c using (user_id)
    left join order_margin as m using (order_id)
    where o.order_date < greatest(cast($holdout_end as date), cast($cal_end as date))
    group by all
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
        holdout_days,
        cast(holdout_gmv as double) as holdout_gmv
    from per_customer
)

select * from final
order by user_id
