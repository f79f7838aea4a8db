-- grain: one row per order line
-- definition: order_items enriched with the order (user_id, ordered_at, order_date,
--   order_channel, store_id, order_seq) and the product (category, is_hero, price,
--   unit_cost); margin_yuan = amount - quantity * unit_cost (null when unit_cost is unknown).
--   amount has the contract's one meaning: the line amount before the order-level discount
--   (quantity x the price charged for the line), so margin_yuan is the margin before the
--   order's coupon or promotion (orders.discount).
-- parameters: none
-- invariants: sum(amount) per order = the order's gmv + discount in well-formed data.
create table fct_order_lines as
with items as (
    select * from order_items
),

orders as (
    select order_id, user_id, ordered_at, order_date, order_channel, store_id, order_seq
    from fct_orders
),

products as (
    select product_id, name as product_name, category, is_hero, price, unit_cost
    from products
),

final as (
    select
        i.order_id,
        i.product_id,
        o.user_id,
        o.ordered_at,
        o.order_date,
        o.order_channel,
        o.store_id,
        o.order_seq,
        p.product_name,
        p.category,
        p.is_hero,
        i.quantity,
        i.amount,
        i.amount - i.quantity * p.unit_cost as margin_yuan
    from items as i
    inner join orders as o using (order_id)
    left join products as p using (product_id)
)

select * from final
order by order_id, product_id
