-- grain: one row per user with at least one order in the window [$from_date, $to_date)
-- definition: behaviour and attributes of each buyer over the window, the inputs of persona
--   profiles and behaviour clusters.
--   Behaviour: n_orders, gmv (yuan), aov = gmv / n_orders, recency_days (last order date to
--   $as_of), online_share = share of orders whose order_channel is not one of $offline_channels,
--   n_online / gmv_online and n_offline / gmv_offline (orders and GMV by channel kind),
--   n_month_orders / n_month_online = orders (online orders) on or after $month_start (the
--   report month), coupon_share = share of orders that redeemed a coupon (orders.coupon_id not
--   null), weekend_share = share of orders on Saturday or Sunday, tod_* = share of orders by
--   hour of day (morning 05-10, midday 11-13, afternoon 14-17, evening 18-21, night 22-04),
--   top_category = the category with the most line GMV (ties: alphabetical; NULL without lines of a known product),
--   read from persona_user_categories (user_categories.sql for the same window, built once per
--   run by the caller, userops.persona). The per-category line shares (cat_*) come from there
--   too: categories are the chain's own vocabulary, so they are rows there, not columns here.
--   Attributes: age_band from age = year($as_of) - birth_year against the ascending band edges
--   $age_edges ('<e1', 'e1-e2-1', ..., 'ek+'); gender, city, family_status. A missing attribute
--   (NULL or blank) is its own level 'unknown'.
-- parameters: $from_date, $to_date (DATE, half-open window), $as_of (DATE, last day of the
--   window), $month_start (DATE, first day of the report month), $age_edges (INTEGER[],
--   ascending ages at which a band starts), $offline_channels (VARCHAR[], order channels placed
--   in a store: params data.offline_order_channels)
-- invariants: n_online + n_offline = n_orders; n_month_online <= n_month_orders <= n_orders; the
--   tod_* shares sum to 1; every share lies in [0, 1].
with orders as (
    select
        user_id,
        order_date,
        gmv,
        not list_contains($offline_channels, order_channel) as is_online,
        coupon_id is not null as has_coupon,
        isodow(ordered_at) >= 6 as is_weekend,
        extract(hour from ordered_at) as hr,
        order_date >= $month_start as in_month
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

behaviour as (
    select
        user_id,
        count(*) as n_orders,
        cast(sum(gmv) as double) as gmv,
        cast(sum(gmv) as double) / count(*) as aov,
        date_diff('day', max(order_date), cast($as_of as date)) as recency_days,
        avg(cast(is_online as integer)) as online_share,
        count(*) filter (where is_online) as n_online,
        coalesce(cast(sum(gmv) filter (where is_online) as double), 0) as gmv_online,
        count(*) filter (where not is_online) as n_offline,
        coalesce(cast(sum(gmv) filter (where not is_online) as double), 0) as gmv_offline,
        count(*) filter (where in_month) as n_month_orders,
        count(*) filter (where in_month and is_online) as n_month_online,
        avg(cast(has_coupon as integer)) as coupon_share,
        avg(cast(is_weekend as integer)) as weekend_share,
        avg(cast(hr between 5 and 10 as integer)) as tod_morning,
        avg(cast(hr between 11 and 13 as integer)) as tod_midday,
        avg(cast(hr between 14 and 17 as integer)) as tod_afternoon,
        avg(cast(hr between 18 and 21 as integer)) as tod_evening,
        avg(cast(hr >= 22 or hr < 5 as integer)) as tod_night
    from orders
    group by user_id
),

-- each user's lines per category of the window, aggregated once per run (user_categories.sql)
category_gmv as (
    select user_id, category, gmv
    from persona_user_categories
),

category_ranked as (
    select *, row_number() over (partition by user_id order by gmv desc, category) as gmv_rank
    from category_gmv
),

categories as (
    select user_id, min(category) filter (where gmv_rank = 1) as top_category
    from category_ranked
    group by user_id
),

attributes as (
    select
        user_id,
        year(cast($as_of as date)) - birth_year as age,
        array_length(list_filter($age_edges, lambda e: year(cast($as_of as date)) - birth_year >= e)) as band_idx,
        coalesce(nullif(trim(gender), ''), 'unknown') as gender,
        coalesce(nullif(trim(city), ''), 'unknown') as city,
        coalesce(nullif(trim(family_status), ''), 'unknown') as family_status
    from users
),

banded as (
    select
        user_id,
        case
            when age is null then 'unknown'
            when band_idx = 0 then '<' || $age_edges[1]
            when band_idx = array_length($age_edges) then $age_edges[band_idx] || '+'
            else $age_edges[band_idx] || '-' || ($age_edges[band_idx + 1] - 1)
        end as age_band,
        gender,
        city,
        family_status
    from attributes
),

final as (
    select
        b.*,
        c.top_category,
        a.age_band,
        a.gender,
        a.city,
        a.family_status
    from behaviour as b
    inner join banded as a using (user_id)
    left join categories as c using (user_id)
)

select * from final
order by user_id
