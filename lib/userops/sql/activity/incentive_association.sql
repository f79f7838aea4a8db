-- grain: one row per incentive (each of $incentives, plus 'any') x prior-orders bin x tenure bin
--   x participated (true / false)
-- definition: observational comparison, association not effect. Population: users with at
--   least one order in the $prior_days days before $index_date (the active users an incentive
--   aims at). participated = the user had an event of the incentive in the $participation_days
--   days before $index_date ('any' = any of $incentives). Strata make participants and
--   non-participants look alike before the index date: order_bin = how many of the ascending
--   $order_bins lower bounds the user's orders in the prior $prior_days days reach (orders >=
--   bound); tenure_bin = how many of the ascending $tenure_bins (days) the user's tenure
--   (days from first order to $index_date) reaches. Outcomes: orders and GMV in the
--   $outcome_days days from $index_date; _sq columns are sums of squares (for variances).
-- parameters: $index_date (DATE), $prior_days, $participation_days, $outcome_days (INTEGER),
--   $incentives (VARCHAR[]), $order_bins, $tenure_bins (INTEGER[], ascending)
-- invariants: per incentive, sum(users) = the population; users of participated = true are the
--   incentive's participants in the population.
with population as (
    select
        o.user_id,
        count(*) as prior_orders,
        date_diff('day', any_value(u.first_order_date), cast($index_date as date)) as tenure_days
    from fct_orders as o
    inner join dim_users as u using (user_id)
    where o.order_date >= cast($index_date as date) - $prior_days and o.order_date < $index_date
    group by o.user_id
),

participation as (
    select distinct user_id, event as incentive
    from events
    where
        ts >= cast($index_date as date) - $participation_days and ts < $index_date
        and list_contains($incentives, event)
    union
    select distinct user_id, 'any' as incentive
    from events
    where
        ts >= cast($index_date as date) - $participation_days and ts < $index_date
        and list_contains($incentives, event)
),

outcomes as (
    select user_id, count(*) as orders, sum(gmv) as gmv
    from fct_orders
    where ordered_at >= $index_date and ordered_at < cast($index_date as date) + $outcome_days
    group by user_id
),

users_x_incentives as (
    select
        p.user_id,
        i.incentive,
        array_length(list_filter($order_bins, lambda b: b <= p.prior_orders)) as order_bin,
        array_length(list_filter($tenure_bins, lambda b: b <= p.tenure_days)) as tenure_bin,
        x.user_id is not null as participated,
        coalesce(o.orders, 0) as orders,
        coalesce(o.gmv, 0) as gmv
    from population as p
    cross join (select unnest(list_append($incentives, 'any')) as incentive) as i
    left join participation as x on x.user_id = p.user_id and x.incentive = i.incentive
    left join outcomes as o on o.user_id = p.user_id
),

final as (
    select
        incentive,
        order_bin,
        tenure_bin,
        participated,
        count(*) as users,
        sum(orders) as orders,
        sum(orders * orders) as orders_sq,
        sum(gmv) as gmv,
        sum(gmv * gmv) as gmv_sq
    from users_x_incentives
    group by all
)

select * from final
order by incentive, order_bin, tenure_bin, participated
