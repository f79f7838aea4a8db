-- grain: one row per funnel segment x step (5 steps). Segments: each order/event channel seen in
--   the month, 'online' (every channel not in $offline_channels, users pooled) and 'offline'
--   (the channels in $offline_channels, e.g. store).
-- definition: the key path 看店 → 进店 → 选货 → 结账 → 再购买 of the users of one month
--   [$from_date, $to_date), user level, each step a subset of the one before:
--   1 visit = a `visit` event; 2 browse = also a `browse_40s` event; 3 add_cart = also an
--   `add_cart` event; 4 checkout = also a paid order (fct_orders) in the month; 5 buy_again =
--   also another order (any channel) within $repeat_days days after the user's first order of the
--   month, orders observed up to $as_of (with $as_of = the month's last day, buyers late in the
--   month have had less time: the same cut every month, so months compare). Events count on their event_channel, orders on their
--   order_channel. A segment without any visit event in the month is not event-tracked (offline
--   stores do not log visits): its steps 1-3 are NULL and its path starts at checkout (all buyers).
-- parameters: $from_date, $to_date (DATE, the month, half-open), $as_of (DATE, last observed
--   day), $repeat_days (INTEGER), $offline_channels (VARCHAR[], order channels placed in a store:
--   params data.offline_order_channels)
-- invariants: users is non-increasing in step_order within a segment; checkout users of a
--   tracked segment <= its visitors.
with step_spine as (
    select *
    from (
        values
            (1, 'visit', '看店'),
            (2, 'browse', '进店'),
            (3, 'add_cart', '选货'),
            (4, 'checkout', '结账'),
            (5, 'buy_again', '再购买')
    ) as t (step_order, step, step_zh)
),

events_in_month as (
    select user_id, event, coalesce(event_channel, 'unknown') as channel
    from events
    where ts >= $from_date and ts < $to_date and event in ('visit', 'browse_40s', 'add_cart')
),

orders_in_month as (
    select user_id, order_channel as channel, ordered_at
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

first_order as (
    select user_id, min(ordered_at) as first_at from orders_in_month group by user_id
),

buy_again as (
    -- another order within $repeat_days days of the first order of the month (observed to $as_of)
    select distinct f.user_id
    from first_order as f
    inner join fct_orders as o
        on
            o.user_id = f.user_id
            and o.ordered_at > f.first_at
            and o.ordered_at < f.first_at + to_days(cast($repeat_days as integer))
            and o.order_date <= $as_of
),

user_channel as (
    -- one row per user x channel with the actions seen on that channel
    select
        user_id,
        channel,
        bool_or(event = 'visit') as did_visit,
        bool_or(event = 'browse_40s') as did_browse,
        bool_or(event = 'add_cart') as did_cart,
        false as did_order
    from events_in_month
    group by all
    union all
    select distinct user_id, channel, false, false, false, true
    from orders_in_month
),

segment_users as (
    -- the same user actions pooled at the segment level (a user counts once per segment)
    select
        s.segment,
        s.segment_kind,
        uc.user_id,
        bool_or(uc.did_visit) as did_visit,
        bool_or(uc.did_browse) as did_browse,
        bool_or(uc.did_cart) as did_cart,
        bool_or(uc.did_order) as did_order
    from user_channel as uc
    cross join lateral (
        select * from (
            values
                (uc.channel, 'channel'),
                (case when list_contains($offline_channels, uc.channel) then 'offline' else 'online' end, 'online_offline')
        ) as v (segment, segment_kind)
    ) as s
    group by all
),

tracked as (
    select segment, bool_or(did_visit) as is_tracked from segment_users group by segment
),

counts as (
    select
        su.segment,
        su.segment_kind,
        t.is_tracked,
        count(*) filter (where su.did_visit) as n_visit,
        count(*) filter (where su.did_visit and su.did_browse) as n_browse,
        count(*) filter (where su.did_visit and su.did_browse and su.did_cart) as n_cart,
        count(*) filter (
            where su.did_order and (not t.is_tracked or (su.did_visit and su.did_browse and su.did_cart))
        ) as n_checkout,
        count(*) filter (
            where su.did_order and b.user_id is not null
            and (not t.is_tracked or (su.did_visit and su.did_browse and su.did_cart))
        ) as n_buy_again
    from segment_users as su
    inner join tracked as t using (segment)
    left join buy_again as b on b.user_id = su.user_id
    group by all
),

final as (
    select
        c.segment,
        c.segment_kind,
        c.is_tracked,
        s.step_order,
        s.step,
        s.step_zh,
        case
            when s.step_order <= 3 and not c.is_tracked then null
            when s.step = 'visit' then c.n_visit
            when s.step = 'browse' then c.n_browse
            when s.step = 'add_cart' then c.n_cart
            when s.step = 'checkout' then c.n_checkout
            else c.n_buy_again
        end as users
    from counts as c
    cross join step_spine as s
)

select * from final
order by
    segment_kind desc,
    segment,
    step_order
