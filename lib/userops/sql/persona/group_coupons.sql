-- grain: one row per dimension x group (of persona_groups) x coupon kind
-- definition: how each group of users responds to coupons: coupons issued in the window
--   [$from_date, $to_date) whose validity ended by the end of $as_of (closed), and how many of
--   them were redeemed within validity (fct_coupons.redeemed_within_validity, i.e. through
--   orders.coupon_id). is_new_user_pack marks the kinds of the new-user pack
--   ($new_user_kinds: params data.new_user_coupon_kinds). redemption_rate = redeemed / closed (NULL when nothing closed).
--   persona_groups(user_id, dimension, grp) is registered by the caller (userops.persona).
-- parameters: $from_date, $to_date (DATE, half-open window of issue dates), $as_of (DATE),
--   $new_user_kinds (VARCHAR[])
-- invariants: redeemed <= closed; 0 <= redemption_rate <= 1.
with grp as (
    select user_id, dimension, grp from persona_groups
),

coupons as (
    select
        user_id,
        kind,
        list_contains($new_user_kinds, kind) as is_new_user_pack,
        redeemed_within_validity
    from fct_coupons
    where
        issued_at >= $from_date and issued_at < $to_date
        and expires_at < cast($as_of as timestamp) + interval 1 day
),

counted as (
    select
        g.dimension,
        g.grp,
        c.kind,
        c.is_new_user_pack,
        count(*) as closed,
        count(*) filter (where c.redeemed_within_validity) as redeemed
    from grp as g
    inner join coupons as c using (user_id)
    group by all
),

final as (
    select *, redeemed / nullif(closed, 0) as redemption_rate
    from counted
)

select * from final
order by dimension, grp, kind
