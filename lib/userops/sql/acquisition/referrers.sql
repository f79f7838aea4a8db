-- grain: one row per referrer (group leader or store promoter), every referrer of the table
-- definition: referred users = users with this referrer_id registered in [$from_date, $to_date).
--   valid_new_users = referred users who placed a first order by the end of $as_of (registered
--   AND ordered: what a commission is paid for). The window of a valid user = orders in the
--   first $gmv_days days after the first order (order_date < first_order_date + $gmv_days, up to
--   $as_of); users_window_complete counts the valid users observed for all $gmv_days days.
--   Money basis (fct_order_margin, lib/userops/money.py): gmv_window = paid GMV of the window's
--   orders (net of discounts); margin_window = their gross margin (paid GMV - cost of goods; for
--   orders without a known cost of goods paid GMV x $assumed_margin_rate, whose paid GMV is
--   gmv_assumed_window); pack_back_window = face value of new-user pack coupons (kind in
--   $new_user_kinds) redeemed on the window's orders: the discounts added back to GMV and margin
--   because the pack is counted once, as a referral cost. Referral cost: commission_yuan =
--   valid_new_users x the commission of the referrer's kind; pack_cost_yuan = face value of the
--   referred users' new-user pack coupons redeemed by $as_of; cost_yuan = commission + pack.
--   The *_complete columns repeat gmv / margin / pack_back / cost on the users_window_complete
--   users only (the economics of complete windows: a young window would understate the return).
-- parameters: $from_date, $to_date (DATE, registration range), $as_of (DATE), $gmv_days
--   (INTEGER), $commission_group_leader, $commission_store_promoter (DOUBLE, yuan per valid user),
--   $new_user_kinds (VARCHAR[], params data.new_user_coupon_kinds), $assumed_margin_rate (DOUBLE,
--   params experiments.assumed_margin_rate)
-- invariants: valid_new_users <= registrations; users_window_complete <= valid_new_users;
--   cost_yuan = commission_yuan + pack_cost_yuan; every *_complete <= its whole-window column.
with referrers as (
    select
        referrer_id,
        kind,
        group_id,
        store_id,
        case kind
            when 'group_leader' then $commission_group_leader
            when 'store_promoter' then $commission_store_promoter
            else 0
        end as commission_per_user
    from referrers
),

referred as (
    select
        user_id,
        referrer_id,
        first_order_date,
        first_order_date <= $as_of as is_valid,
        first_order_date + $gmv_days - 1 <= $as_of as is_complete
    from dim_users
    where referrer_id is not null and registered_at >= $from_date and registered_at < $to_date
),

pack_coupons as (
    select user_id, redeemed_order_id, face_value, redeemed_at
    from fct_coupons
    where list_contains($new_user_kinds, kind) and is_redeemed
),

pack_by_order as (
    select redeemed_order_id as order_id, sum(face_value) as pack_back
    from pack_coupons
    group by redeemed_order_id
),

window_orders as (
    select
        r.user_id,
        sum(m.paid_gmv) as gmv,
        sum(coalesce(m.gross_margin, m.paid_gmv * $assumed_margin_rate)) as margin,
        coalesce(sum(m.paid_gmv) filter (where not m.cost_known), 0) as gmv_assumed,
        coalesce(sum(p.pack_back), 0) as pack_back
    from referred as r
    inner join fct_order_margin as m using (user_id)
    left join pack_by_order as p using (order_id)
    where
        r.is_valid
        and cast(m.ordered_at as date) < r.first_order_date + $gmv_days
        and cast(m.ordered_at as date) <= $as_of
    group by r.user_id
),

pack as (
    select r.user_id, sum(p.face_value) as pack_cost
    from referred as r
    inner join pack_coupons as p using (user_id)
    where p.redeemed_at < cast($as_of as timestamp) + interval 1 day
    group by r.user_id
),

per_user as (
    select
        r.referrer_id,
        r.is_valid,
        r.is_valid and r.is_complete as is_complete,
        coalesce(w.gmv, 0) as gmv,
        coalesce(w.margin, 0) as margin,
        coalesce(w.gmv_assumed, 0) as gmv_assumed,
        coalesce(w.pack_back, 0) as pack_back,
        coalesce(p.pack_cost, 0) as pack_cost
    from referred as r
    left join window_orders as w using (user_id)
    left join pack as p using (user_id)
),

per_referrer as (
    select
        referrer_id,
        count(*) as registrations,
        count(*) filter (where is_valid) as valid_new_users,
        count(*) filter (where is_complete) as users_window_complete,
        sum(gmv) as gmv_window,
        sum(margin) as margin_window,
        sum(gmv_assumed) as gmv_assumed_window,
        sum(pack_back) as pack_back_window,
        sum(pack_cost) as pack_cost_yuan,
        coalesce(sum(gmv) filter (where is_complete), 0) as gmv_complete,
        coalesce(sum(margin) filter (where is_complete), 0) as margin_complete,
        coalesce(sum(pack_back) filter (where is_complete), 0) as pack_back_complete,
        coalesce(sum(pack_cost) filter (where is_complete), 0) as pack_cost_complete
    from per_user
    group by referrer_id
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
        cast(coalesce(p.margin_window, 0) as double) as margin_window,
        cast(coalesce(p.gmv_assumed_window, 0) as double) as gmv_assumed_window,
        cast(coalesce(p.pack_back_window, 0) as double) as pack_back_window,
        cast(coalesce(p.valid_new_users, 0) * f.commission_per_user as double) as commission_yuan,
        cast(coalesce(p.pack_cost_yuan, 0) as double) as pack_cost_yuan,
        cast(coalesce(p.valid_new_users, 0) * f.commission_per_user + coalesce(p.pack_cost_yuan, 0) as double)
            as cost_yuan,
        cast(coalesce(p.gmv_complete, 0) as double) as gmv_complete,
        cast(coalesce(p.margin_complete, 0) as double) as margin_complete,
        cast(coalesce(p.pack_back_complete, 0) as double) as pack_back_complete,
        cast(
            coalesce(p.users_window_complete, 0) * f.commission_per_user + coalesce(p.pack_cost_complete, 0)
            as double
        ) as cost_complete
    from referrers as f
    left join per_referrer as p using (referrer_id)
)

select * from final
order by kind, referrer_id
