-- grain: one row per new-user pack coupon kind (the kinds in $new_user_kinds present in the data)
-- definition: new-user pack coupons issued in [$from_date, $to_date). n_closed = coupons whose
--   validity ended by the end of $as_of (expires_at < $as_of + 1 day); redemption rates use
--   n_closed as denominator so that still-valid coupons do not drag the rate down.
--   Redemption comes from orders.coupon_id (fct_coupons); within validity means
--   issued_at <= redeemed_at <= expires_at.
-- parameters: $from_date, $to_date (DATE), $as_of (DATE, last observed day), $new_user_kinds
--   (VARCHAR[], the coupon kinds of the new-user pack: params data.new_user_coupon_kinds)
-- invariants: n_redeemed_within <= n_redeemed_closed <= n_closed <= n_issued.
with coupons as (
    select *
    from fct_coupons
    where list_contains($new_user_kinds, kind) and issued_at >= $from_date and issued_at < $to_date
),

flagged as (
    select
        *,
        expires_at < cast($as_of as timestamp) + interval 1 day as is_closed
    from coupons
),

final as (
    select
        kind,
        count(*) as n_issued,
        count(distinct user_id) as n_users,
        count(*) filter (where is_closed) as n_closed,
        count(*) filter (where is_closed and is_redeemed) as n_redeemed_closed,
        count(*) filter (where is_closed and redeemed_within_validity) as n_redeemed_within,
        coalesce(sum(face_value) filter (where is_closed and redeemed_within_validity), 0) as face_value_redeemed,
        min(face_value) as face_value,
        min(min_spend) as min_spend
    from flagged
    group by kind
)

select * from final
order by face_value, kind
