-- grain: one row per new-user coupon kind (the kinds in $new_user_kinds that were issued)
-- definition: new-user pack coupons issued in [$from_date, $to_date). n_closed = coupons whose
--   validity ended by the end of $as_of; n_redeemed = closed coupons used on any order
--   (orders.coupon_id); n_redeemed_within = used between issued_at and expires_at.
--   users = distinct holders, users_redeemed = holders who used at least one closed coupon of
--   the kind. face_value_redeemed = face value of the closed coupons redeemed within validity
--   (the cost of the pack). Rates use n_closed so that still-valid coupons do not count as unused.
-- parameters: $from_date, $to_date (DATE), $as_of (DATE, last observed day), $new_user_kinds
--   (VARCHAR[], the coupon kinds of the new-user pack: params data.new_user_coupon_kinds)
-- invariants: n_redeemed_within <= n_redeemed <= n_closed <= n_issued; users_redeemed <= users.
with coupons as (
    select
        *,
        expires_at < cast($as_of as timestamp) + interval 1 day as is_closed
    from fct_coupons
    where list_contains($new_user_kinds, kind) and issued_at >= $from_date and issued_at < $to_date
),

final as (
    select
        kind,
        min(face_value) as face_value,
        min(min_spend) as min_spend,
        count(*) as n_issued,
        count(distinct user_id) as users,
        count(*) filter (where is_closed) as n_closed,
        count(*) filter (where is_closed and is_redeemed) as n_redeemed,
        count(*) filter (where is_closed and redeemed_within_validity) as n_redeemed_within,
        count(distinct user_id) filter (where is_closed and is_redeemed) as users_redeemed,
        cast(coalesce(sum(face_value) filter (where is_closed and redeemed_within_validity), 0) as double)
            as face_value_redeemed
    from coupons
    group by kind
)

select * from final
order by face_value, kind
