-- grain: one order line per (simulated order, line of the order it repeats)
-- definition: the basket of each simulated response order: the lines of the user's last order
--   (registered frame _sim_orders: sim_order, last_order_id), or for a user who never ordered one
--   unit of the cheapest hero product with a list price (ties: the lowest product id), at that
--   price. store_id / order_channel: the repeated order's; else the data's most common order
--   channel, at the user's home store when that channel's orders carry a store. unit_cost gives
--   the line's cost of goods (null when unknown).
-- parameters: none
-- invariants: amounts sum per sim_order to the order's paid GMV (no discount); every
--   sim_order has at least one line when the data has a hero product with a price.
with hero as (
    select product_id, price
    from products
    where is_hero and price is not null
    order by price, product_id
    limit 1
),

top_channel as (
    select order_channel, count(store_id) > 0 as has_store
    from orders
    group by order_channel
    order by count(*) desc, order_channel
    limit 1
),

repeated as (
    select s.sim_order, i.product_id, i.quantity, i.amount, o.store_id, o.order_channel
    from _sim_orders as s
    inner join orders as o on o.order_id = s.last_order_id
    inner join order_items as i on i.order_id = o.order_id
),

first_time as (
    select
        s.sim_order,
        h.product_id,
        1 as quantity,
        h.price as amount,
        case when t.has_store then s.home_store_id end as store_id,
        t.order_channel
    from _sim_orders as s
    cross join hero as h
    cross join top_channel as t
    where s.last_order_id is null
)

select l.sim_order, l.product_id, l.quantity, cast(l.amount as double) as amount, l.store_id, l.order_channel,
    cast(p.unit_cost as double) as unit_cost
from (select * from repeated union all select * from first_time) as l
inner join products as p using (product_id)
order by l.sim_order, l.product_id
