-- grain: one row per user with a new-user coupon to remind
-- definition: new-user coupons (kind in $new_user_kinds, params data.new_user_coupon_kinds) issued
--   before $day_end (the first instant after the run date), not redeemed before $day_end, and
--   expiring in [$day_end, $day_end + $hours hours). A coupon is listed once: it is left out when it
--   already fell in the previous day's window (expires before $day_end + ($hours - 24) hours and was
--   issued before the previous day's end). coupon_id = the user's first-expiring such coupon;
--   n_coupons = how many of the user's coupons expire in the window.
-- parameters: $day_end (TIMESTAMP), $hours (INTEGER), $new_user_kinds (VARCHAR[])
-- invariants: one row per user; $day_end <= expires_at < $day_end + $hours hours.
with open_coupons as (
    select user_id, coupon_id, kind, expires_at, face_value
    from fct_coupons
    where
        list_contains($new_user_kinds, kind)
        and issued_at < $day_end
        and expires_at >= $day_end
        and expires_at < $day_end + to_hours(cast($hours as bigint))
        and (
            expires_at >= $day_end + to_hours(cast($hours as bigint) - 24)
            or issued_at >= $day_end - interval 1 day
        )
        and (redeemed_at is null or redeemed_at >= $day_end)
),

final as (
    select
        user_id,
        arg_min(coupon_id, (expires_at, coupon_id)) as coupon_id,
        arg_min(face_value, (expires_at, coupon_id)) as coupon_value,
        min(expires_at) as expires_at,
        count(*) as n_coupons,
        arg_min(kind, (expires_at, coupon_id)) as detail
    from open_coupons
    group by user_id
)

select
    user_id,
    coupon_id,
    coupon_value,
    detail,
    -- hours from $day_end to the expiry's whole hour: hour boundaries (DuckDB) = elapsed hours (Spark)
    format(
        '{} new-user coupon(s) unused; the first expires {} ({} h after the day)',
        n_coupons, strftime(expires_at, '%Y-%m-%d %H:%M'), date_diff('hour', $day_end, date_trunc('hour', expires_at))
    ) as reason
from final
order by user_id
