-- grain: one row per new-user pack coupon due for an expiry reminder
-- definition: new-user pack coupons issued before $cutoff, not redeemed before $cutoff, that
--   expire in [$cutoff, $cutoff + $hours hours). $cutoff is the start of the day after the
--   report month, so these are the coupons to remind about right after the month closes.
-- parameters: $cutoff (TIMESTAMP), $hours (INTEGER), $new_user_kinds (VARCHAR[], the coupon kinds
--   of the new-user pack: params data.new_user_coupon_kinds)
-- invariants: one row per coupon_id; expires_at within the window.
with coupons as (
    select * from fct_coupons where list_contains($new_user_kinds, kind)
),

final as (
    select user_id, coupon_id, kind, issued_at, expires_at, face_value, min_spend
    from coupons
    where
        issued_at < $cutoff
        and (redeemed_at is null or redeemed_at >= $cutoff)
        and expires_at >= $cutoff
        and expires_at < $cutoff + to_hours($hours)
)

select * from final
order by user_id, coupon_id
