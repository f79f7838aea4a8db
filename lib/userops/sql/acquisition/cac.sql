-- grain: one row per acquisition channel (users.channel), over the months [$from_date, $to_date)
-- definition: the one CAC of every play (lib/userops/money.py: money.Cac): CAC per new user =
--   (spend + commission + acquisition coupon cost redeemed) / new_users, where
--   spend = channel_spend of the months in the range (0 when the table has no row);
--   new_users = users of the channel whose first order fell in the range;
--   valid_referred = those new users with a referrer_id (a referred user who registered AND
--   ordered), commission = valid_referred x the commission of the referrer's kind
--   ($commission_group_leader / $commission_store_promoter yuan);
--   coupon pack cost = face value of new-user pack coupons (kind in $new_user_kinds) redeemed
--   (orders.coupon_id) in the range by users of the channel; has_spend = the channel has at least
--   one channel_spend row in the range (without one its spend is unknown, not zero). Also spend_per_registration = spend / users registered in
--   the range. Every channel of the users table appears (zero-filled).
-- parameters: $from_date, $to_date (DATE, first days of months, half-open),
--   $commission_group_leader, $commission_store_promoter (DOUBLE, yuan per valid new user),
--   $new_user_kinds (VARCHAR[], the coupon kinds of the new-user pack: params data.new_user_coupon_kinds)
-- invariants: valid_referred <= new_users; cost_yuan = spend_yuan + commission_yuan +
--   pack_cost_yuan; every cost >= 0.
with users as (
    select u.user_id, u.channel, u.registered_at, u.first_order_date, r.kind as referrer_kind
    from dim_users as u
    left join referrers as r on r.referrer_id = u.referrer_id
),

channel_spine as (
    select distinct channel from users
),

spend as (
    select channel, sum(spend) as spend_yuan, count(*) as spend_rows
    from channel_spend
    where month >= $from_date and month < $to_date
    group by channel
),

registrations as (
    select channel, count(*) as registrations
    from users
    where registered_at >= $from_date and registered_at < $to_date
    group by channel
),

new_users as (
    select
        channel,
        count(*) as new_users,
        count(*) filter (where referrer_kind is not null) as valid_referred,
        sum(
            case referrer_kind
                when 'group_leader' then $commission_group_leader
                when 'store_promoter' then $commission_store_promoter
                else 0
            end
        ) as commission_yuan
    from users
    where first_order_date >= $from_date and first_order_date < $to_date
    group by channel
),

pack as (
    select u.channel, sum(c.face_value) as pack_cost_yuan, count(*) as pack_coupons_redeemed
    from fct_coupons as c
    inner join users as u using (user_id)
    where list_contains($new_user_kinds, c.kind) and c.redeemed_at >= $from_date and c.redeemed_at < $to_date
    group by u.channel
),

joined as (
    select
        c.channel,
        coalesce(r.registrations, 0) as registrations,
        coalesce(n.new_users, 0) as new_users,
        coalesce(n.valid_referred, 0) as valid_referred,
        coalesce(s.spend_rows, 0) > 0 as has_spend,
        cast(coalesce(s.spend_yuan, 0) as double) as spend_yuan,
        cast(coalesce(n.commission_yuan, 0) as double) as commission_yuan,
        cast(coalesce(p.pack_cost_yuan, 0) as double) as pack_cost_yuan,
        coalesce(p.pack_coupons_redeemed, 0) as pack_coupons_redeemed
    from channel_spine as c
    left join spend as s using (channel)
    left join registrations as r using (channel)
    left join new_users as n using (channel)
    left join pack as p using (channel)
),

final as (
    select
        *,
        spend_yuan + commission_yuan + pack_cost_yuan as cost_yuan,
        (spend_yuan + commission_yuan + pack_cost_yuan) / nullif(new_users, 0) as cac_yuan,
        spend_yuan / nullif(registrations, 0) as spend_per_registration_yuan
    from joined
)

select * from final
order by channel
