-- grain: one row per user with a repurchase coupon to remind
-- definition: repurchase coupons (kind in $repurchase_kinds, params data.repurchase_coupon_kinds)
--   issued on the day exactly $days days before the run date (issued_at in [$day_end - ($days + 1)
--   days, $day_end - $days days)), not redeemed before $day_end and not expired at $day_end.
--   coupon_id = the user's first-expiring such coupon.
-- parameters: $day_end (TIMESTAMP, first instant after the run date), $days (INTEGER),
--   $repurchase_kinds (VARCHAR[])
-- invariants: one row per user; the coupon is valid and unused at $day_end.
with unused as (
    select user_id, coupon_id, kind, issued_at, expires_at, face_value
    from fct_coupons
    where
        list_contains($repurchase_kinds, kind)
        and issued_at >= $day_end - to_days(cast($days as integer) + 1)
        and issued_at < $day_end - to_days(cast($days as integer))
        and expires_at >= $day_end
        and (redeemed_at is null or redeemed_at >= $day_end)
)

select
    user_id,
    arg_min(coupon_id, (expires_at, coupon_id)) as coupon_id,
    arg_min(face_value, (expires_at, coupon_id)) as coupon_value,
    arg_min(kind, (expires_at, coupon_id)) as detail,
    format(
        'repurchase coupon issued {} still unused; expires {}',
        strftime(min(issued_at), '%Y-%m-%d'), strftime(min(expires_at), '%Y-%m-%d %H:%M')
    ) as reason
from unused
group by user_id
order by user_id
