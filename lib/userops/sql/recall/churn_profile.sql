-- grain: one row per attribute x level (long format)
-- definition: who churned in the month starting $month_start: the population is the buyers
--   active at the previous month end (stage_prev new / growth / mature / declining in
--   recall_user_stages); is_churned = stage 'churned' at this month end, the rest stayed.
--   Attributes are measured on data up to $prev_as_of (before the outcome): acquisition
--   channel, city, age band (year of $prev_as_of - birth_year), order mix (share of orders in
--   an offline order channel of $offline_channels: store only / mostly store >= 50% / mostly
--   online / online only), orders to date
--   (1 / 2-3 / 4-9 / 10+), AOV quartile (of this population), the main category of the last
--   order (largest amount), the coupon kind on the last order ('none'), the main store (most
--   orders; ties by store_id).
-- parameters: $month_start (DATE), $prev_as_of (DATE, the previous month's last day),
--   $offline_channels (VARCHAR[], the order channels placed in a store: params data.offline_order_channels)
-- invariants: per attribute, sum(n_users) = the population and sum(n_churned) = its churned.
with population as (
    select user_id, stage = 'churned' as is_churned
    from recall_user_stages
    where month_start = $month_start and stage_prev in ('new', 'growth', 'mature', 'declining')
),

history as (
    select o.*
    from fct_orders as o
    inner join population as p using (user_id)
    where o.order_date <= $prev_as_of
),

per_user as (
    select
        user_id,
        count(*) as n_orders,
        avg(gmv) as aov,
        avg(case when list_contains($offline_channels, order_channel) then 1.0 else 0.0 end) as store_share,
        max_by(order_id, order_seq) as last_order_id
    from history
    group by user_id
),

last_category as (
    select order_id, category
    from (
        select
            l.order_id,
            l.category,
            row_number() over (partition by l.order_id order by sum(l.amount) desc, l.category) as rn
        from fct_order_lines as l
        inner join per_user as u on u.last_order_id = l.order_id
        group by l.order_id, l.category
    )
    where rn = 1
),

main_store as (
    select user_id, store_id
    from (
        select
            user_id,
            store_id,
            row_number() over (partition by user_id order by count(*) desc, store_id) as rn
        from history
        group by user_id, store_id
    )
    where rn = 1
),

attrs as (
    select
        p.user_id,
        p.is_churned,
        cast(d.channel as varchar) as acquisition_channel,
        coalesce(d.city, 'unknown') as city,
        case
            when d.birth_year is null then 'unknown'
            when year($prev_as_of) - d.birth_year < 25 then '<25'
            when year($prev_as_of) - d.birth_year < 30 then '25-29'
            when year($prev_as_of) - d.birth_year < 40 then '30-39'
            when year($prev_as_of) - d.birth_year < 50 then '40-49'
            when year($prev_as_of) - d.birth_year < 60 then '50-59'
            else '60+'
        end as age_band,
        case
            when u.store_share = 1 then 'store only'
            when u.store_share >= 0.5 then 'mostly store'
            when u.store_share > 0 then 'mostly online'
            else 'online only'
        end as order_mix,
        case
            when u.n_orders = 1 then '1'
            when u.n_orders <= 3 then '2-3'
            when u.n_orders <= 9 then '4-9'
            else '10+'
        end as orders_to_date,
        'Q' || ntile(4) over (order by u.aov, p.user_id) as aov_quartile,
        coalesce(c.category, 'unknown') as last_category,
        coalesce(k.kind, 'none') as last_coupon,
        coalesce(s.name, m.store_id, 'unknown') as main_store
    from population as p
    inner join dim_users as d using (user_id)
    inner join per_user as u using (user_id)
    left join last_category as c on c.order_id = u.last_order_id
    left join fct_orders as lo on lo.order_id = u.last_order_id
    left join coupons as k on k.coupon_id = lo.coupon_id
    left join main_store as m on m.user_id = p.user_id
    left join stores as s on s.store_id = m.store_id
),

long as (
    -- the SQL-standard UNPIVOT (DuckDB and Spark; NULL levels left out by both)
    select *
    from attrs
    unpivot (
        level for attribute in (
            acquisition_channel, city, age_band, order_mix, orders_to_date, aov_quartile, last_category,
            last_coupon, main_store
        )
    )
),

final as (
    select
        attribute,
        level,
        count(*) as n_users,
        count(*) filter (where is_churned) as n_churned
    from long
    group by all
)

select * from final
order by attribute, level
