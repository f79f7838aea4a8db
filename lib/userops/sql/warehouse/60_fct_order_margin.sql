-- grain: one row per order
-- definition: the money basis of every play, built once at load time. paid_gmv = orders.gmv
--   (what the customer paid, net of coupons and promotions: a coupon's cost is already inside it
--   and is never added again). cogs = sum over the order's lines of quantity x products.unit_cost,
--   known only when the order has lines and every line's product has a unit_cost (else null).
--   gross_margin = paid_gmv - cogs (null when cogs is unknown; metrics then apply the assumed
--   margin rate from params experiments.assumed_margin_rate and label the figure as assumed).
-- parameters: none
-- invariants: one row per order; gross_margin is null exactly when cost_known is false.
create table fct_order_margin as
with line_cost as (
    select
        order_id,
        sum(amount - margin_yuan) as cogs,  -- margin_yuan = amount - quantity x unit_cost
        count(*) = count(margin_yuan) as all_costed
    from fct_order_lines
    group by order_id
),

final as (
    select
        o.order_id,
        o.user_id,
        o.ordered_at,
        o.gmv as paid_gmv,
        coalesce(c.all_costed, false) as cost_known,
        case when c.all_costed then c.cogs end as cogs,
        case when c.all_costed then o.gmv - c.cogs end as gross_margin
    from orders as o
    left join line_cost as c using (order_id)
)

select * from final
order by order_id
