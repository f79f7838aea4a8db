-- grain: one row per issue month
-- definition: repurchase coupons (kinds in $repurchase_kinds, given at checkout) issued in
--   [$from_date, $to_date). Redemption comes from orders.coupon_id (fct_coupons).
--   eligible_days = coupons observed for $days x 24 h by the end of $as_of; redeemed_within_days
--   = of those, redeemed within $days x 24 h of issue. closed = coupons whose validity ended by
--   the end of $as_of; redeemed_in_validity = of those, redeemed between issue and expiry.
--   Months without coupons are zero rows.
-- parameters: $from_date, $to_date (DATE, first days of months), $days (INTEGER), $as_of (DATE),
--   $repurchase_kinds (VARCHAR[], params data.repurchase_coupon_kinds)
-- invariants: redeemed_within_days <= eligible_days <= issued; redeemed_in_validity <= closed <= issued.
with coupons as (
    select
        cast(date_trunc('month', issued_at) as date) as month,
        user_id,
        issued_at,
        expires_at,
        redeemed_at,
        redeemed_within_validity,
        face_value
    from fct_coupons
    where list_contains($repurchase_kinds, kind) and issued_at >= $from_date and issued_at < $to_date
),

flagged as (
    select
        *,
        issued_at + to_days($days) < cast($as_of as timestamp) + interval 1 day as is_eligible_days,
        coalesce(redeemed_at <= issued_at + to_days($days), false) as is_redeemed_days,
        expires_at < cast($as_of as timestamp) + interval 1 day as is_closed
    from coupons
),

month_spine as (
    select cast(range as date) as month
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

counts as (
    select
        month,
        count(*) as issued,
        count(distinct user_id) as users,
        count(*) filter (where is_eligible_days) as eligible_days,
        count(*) filter (where is_eligible_days and is_redeemed_days) as redeemed_within_days,
        count(*) filter (where is_closed) as closed,
        count(*) filter (where is_closed and redeemed_within_validity) as redeemed_in_validity,
        coalesce(sum(face_value) filter (where is_closed and redeemed_within_validity), 0) as face_value_redeemed
    from flagged
    group by month
),

final as (
    select
        m.month,
        coalesce(c.issued, 0) as issued,
        coalesce(c.users, 0) as users,
        coalesce(c.eligible_days, 0) as eligible_days,
        coalesce(c.redeemed_within_days, 0) as redeemed_within_days,
        coalesce(c.closed, 0) as closed,
        coalesce(c.redeemed_in_validity, 0) as redeemed_in_validity,
        coalesce(c.face_value_redeemed, 0) as face_value_redeemed
    from month_spine as m
    left join counts as c using (month)
)

select * from final
order by month
