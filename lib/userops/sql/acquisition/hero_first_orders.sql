-- grain: one row per acquisition channel (users.channel)
-- definition: first orders (order_seq = 1) placed in [$from_date, $to_date). with_hero = first
--   orders with at least one line of a hero product (products.is_hero); hero_amount = line
--   amount of hero products in those first orders; lines_amount = all line amounts of the
--   first orders (before the order discount, so hero_amount / lines_amount is the hero share
--   of first-order basket value); first_gmv = paid GMV of the first orders. First orders
--   without lines count in first_orders only.
-- parameters: $from_date, $to_date (DATE)
-- invariants: with_hero <= first_orders; hero_amount <= lines_amount.
with first_orders as (
    select o.order_id, u.channel, o.gmv
    from fct_orders as o
    inner join dim_users as u using (user_id)
    where o.order_seq = 1 and o.order_date >= $from_date and o.order_date < $to_date
),

lines as (
    select
        l.order_id,
        sum(l.amount) as lines_amount,
        coalesce(sum(l.amount) filter (where l.is_hero), 0) as hero_amount,
        coalesce(bool_or(l.is_hero), false) as has_hero
    from fct_order_lines as l
    inner join first_orders as f using (order_id)
    group by l.order_id
),

final as (
    select
        f.channel,
        count(*) as first_orders,
        count(*) filter (where l.has_hero) as with_hero,
        cast(coalesce(sum(l.hero_amount), 0) as double) as hero_amount,
        cast(coalesce(sum(l.lines_amount), 0) as double) as lines_amount,
        cast(sum(f.gmv) as double) as first_gmv
    from first_orders as f
    left join lines as l using (order_id)
    group by f.channel
)

select * from final
order by channel
