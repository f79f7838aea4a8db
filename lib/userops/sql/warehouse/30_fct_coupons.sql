-- grain: one row per issued coupon
-- definition: coupons with their redemption, derived from the orders (never stored twice): a
--   coupon is redeemed by an order whose orders.coupon_id is it, or by an order_coupons row
--   (orders that redeem more than one coupon); redeemed_order_id / redeemed_at are the earliest
--   such order, is_redeemed, redeemed_within_validity (issued_at <= redeemed_at <= expires_at),
--   is_new_user_pack (kind in params data.new_user_coupon_kinds, as of the load).
-- parameters: $new_user_kinds (params data.new_user_coupon_kinds)
-- invariants: one row per coupon_id; redeemed_within_validity implies is_redeemed.
create table fct_coupons as
with coupons as (
    select * from coupons
),

order_coupon_links as (
    select order_id, coupon_id from orders where coupon_id is not null
    union
    select order_id, coupon_id from order_coupons
),

redemptions as (
    select
        l.coupon_id,
        arg_min(o.order_id, (o.ordered_at, o.order_id)) as redeemed_order_id,
        min(o.ordered_at) as redeemed_at
    from order_coupon_links as l
    inner join orders as o using (order_id)
    group by l.coupon_id
),

final as (
    select
        c.*,
        r.redeemed_order_id,
        r.redeemed_at,
        r.redeemed_at is not null as is_redeemed,
        coalesce(r.redeemed_at between c.issued_at and c.expires_at, false) as redeemed_within_validity,
        list_contains($new_user_kinds, c.kind) as is_new_user_pack
    from coupons as c
    left join redemptions as r using (coupon_id)
)

select * from final
order by coupon_id
