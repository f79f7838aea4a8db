-- grain: one row per issued coupon
-- definition: coupons with their redemption, derived from orders.coupon_id (never stored
--   twice): redeemed_order_id / redeemed_at (the earliest order that used it),
--   is_redeemed, redeemed_within_validity (issued_at <= redeemed_at <= expires_at),
--   is_new_user_pack (kind starts with 'new_user_').
-- parameters: none
-- invariants: one row per coupon_id; redeemed_within_validity implies is_redeemed.
create table fct_coupons as
with coupons as (
    select * from coupons
),

redemptions as (
    select
        coupon_id,
        arg_min(order_id, ordered_at) as redeemed_order_id,
        min(ordered_at) as redeemed_at
    from orders
    where coupon_id is not null
    group by coupon_id
),

final as (
    select
        c.*,
        r.redeemed_order_id,
        r.redeemed_at,
        r.redeemed_at is not null as is_redeemed,
        coalesce(r.redeemed_at between c.issued_at and c.expires_at, false) as redeemed_within_validity,
        starts_with(c.kind, 'new_user_') as is_new_user_pack
    from coupons as c
    left join redemptions as r using (coupon_id)
)

select * from final
order by coupon_id
