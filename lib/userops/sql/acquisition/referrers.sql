-- grain: one row per referrer (group leader or store promoter), every referrer of the table
-- definition: referred users = users with this referrer_id registered in [$from_date, $to_date).
--   valid_new_users = referred users who placed a first order by the end of $as_of (registered
--   AND ordered: what a commission is paid for). gmv_window = paid GMV of their orders in the
--   first $gmv_days days after the first order (order_date < first_order_date + $gmv_days,
--   up to $as_of; users_window_complete counts those observed for all $gmv_days days).
--   commission_yuan = valid_new_users x the commission of the referrer's kind;
--   pack_cost_yuan = face value of the referred users' new-user pack coupons (kind in
--   $new_user_kinds) redeemed by $as_of; cost_yuan = commission + pack cost; roi = gmv_window / cost_yuan (null when no cost).
-- parameters: $from_date, $to_date (DATE, registration range), $as_of (DATE), $gmv_days
--   (INTEGER), $commission_group_leader, $commission_store_promoter (DOUBLE, yuan per valid user),
--   $new_user_kinds (VARCHAR[], params data.new_user_coupon_kinds)
-- invariants: valid_new_users <= registrations; users_window_complete <= valid_new_users;
--   cost_yuan = commission_yuan + pack_cost_yuan.
with referrers as (
    select
        referrer_id,
        kind,
        group_id,
        store_id,
        case kind
            when 'group_leader' then $commission_group_leader
            when 'store_promoter' then $commission_store_promoter
        end as commission_per_user
    from referrers
),

referred as (
    select user_id, referrer_id, first_order_date, first_order_date <= $as_of as is_valid
    from dim_users
    where referrer_id is not null and registered_at >= $from_date and registered_at < $to_date
),

window_gmv as (
    select r.user_id, sum(o.gmv) as gmv
    from referred as r
    inner join fct_orders as o using (user_id)
    where r.is_valid and o.order_date < r.first_order_date + $gmv_days and o.order_date <= $as_of
    group by r.user_id
),

pack as (
    select r.user_id, sum(c.face_value) as pack_cost
    from referred as r
    inner join fct_coupons as c using (user_id)
    where list_contains($new_user_kinds, c.kind) and c.redeemed_at < cast($as_of as timestamp) + interval 1 day
    group by r.user_id
),

per_referrer as (
    select
        r.referrer_id,
        count(*) as registrations,
        count(*) filter (where r.is_valid) as valid_new_users,
        count(*) filter (where r.is_valid and r.first_order_date + $gmv_days - 1 <= $as_of) as users_window_complete,
        coalesce(sum(g.gmv), 0) as gmv_window,
        coalesce(sum(p.pack_cost), 0) as pack_cost_yuan
    from referred as r
    left join window_gmv as g using (user_id)
    left join pack as p using (user_id)
    group by r.referrer_id
),

final as (
    select
        f.referrer_id,
        f.kind,
        f.group_id,
        f.store_id,
        coalesce(p.registrations, 0) as registrations,
        coalesce(p.valid_new_users, 0) as valid_new_users,
        coalesce(p.users_window_complete, 0) as users_window_complete,
        cast(coalesce(p.gmv_window, 0) as double) as gmv_window,
        cast(coalesce(p.valid_new_users, 0) * f.commission_per_user as double) as commission_yuan,
        cast(coalesce(p.pack_cost_yuan, 0) as double) as pack_cost_yuan,
        cast(coalesce(p.valid_new_users, 0) * f.commission_per_user + coalesce(p.pack_cost_yuan, 0) as double)
            as cost_yuan
    from referrers as f
    left join per_referrer as p using (referrer_id)
)

select *, gmv_window / nullif(cost_yuan, 0) as roi
from final
order by kind, referrer_id
