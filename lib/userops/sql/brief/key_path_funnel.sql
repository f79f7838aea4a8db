-- grain: one row per month x funnel segment x step (5 steps), months starting in [$from_date,
--   $to_date) (one month or several: the brief asks for the report month and the months before it
--   whose buy-again windows it may need, in one query). Segments: each order/event channel seen in
--   the month, 'online' (every channel not in $offline_channels, users pooled) and 'offline' (the
--   channels in $offline_channels, e.g. store).
-- definition: the key path 看店 → 进店 → 选货 → 结账 → 再购买 of the users of each month,
--   user level, each step a subset of the one before:
--   1 visit = a `visit` event; 2 browse = also a `browse_40s` event; 3 add_cart = also an
--   `add_cart` event; 4 checkout = also a paid order (fct_orders) in the month; 5 buy_again =
--   also repurchased within $days days by the one definition of play 03's repurchase rate,
--   included from activity/repurchase_buyers (anchor = the user's first order of the month, next
--   order of any channel within $days x 24 h), counted only among checkout users whose window is
--   complete by $as_of: eligible_users (step 5 only) is that denominator, and buy_again is
--   never lowered by buyers who have not had $days days yet. window_closes_on (step 5 only) = the
--   last day on which a checkout user's window closes (repurchase_buyers' window_closes_on): every
--   checkout user of the segment is eligible at any as-of day on or after it (NULL without
--   checkout users). Events count on their event_channel, orders on their order_channel. A
--   segment without any visit event in the month is not event-tracked (offline stores do not log
--   visits): its steps 1-3 are NULL and its path starts at checkout (all buyers).
-- parameters: $from_date, $to_date (DATE, first days of months, half-open), $as_of (DATE, last
--   observed day: later than the last month's end to observe its buyers' windows), $days
--   (INTEGER), $offline_channels (VARCHAR[], order channels placed in a store:
--   params data.offline_order_channels)
-- invariants: users is non-increasing in step_order within a month x segment; checkout users of a
--   tracked segment <= its visitors; buy_again users <= eligible_users <= checkout users;
--   eligible_users = checkout users when window_closes_on <= $as_of.
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

actions as (
    -- the month's key-path events and paid orders (event 'order'), on their own channel
    select user_id, cast(date_trunc('month', ts) as date) as month, event, coalesce(event_channel, 'unknown') as channel
    from events
    where ts >= $from_date and ts < $to_date and event in ('visit', 'browse_40s', 'add_cart')
    union all
    select user_id, cast(date_trunc('month', order_date) as date) as month, 'order' as event, order_channel as channel
    from fct_orders
    where order_date >= $from_date and order_date < $to_date
),

buyers as (
    -- each month's buyers with play 03's repurchase flags (one shared definition)
    select user_id, month, is_eligible, is_repurchased, window_closes_on
    from (
        -- include: activity/repurchase_buyers
    )
),

user_channel as (
    -- one row per user x month x channel with the actions seen on that channel
    select
        user_id,
        month,
        channel,
        bool_or(event = 'visit') as did_visit,
        bool_or(event = 'browse_40s') as did_browse,
        bool_or(event = 'add_cart') as did_cart,
        bool_or(event = 'order') as did_order
    from actions
    group by all
),

segment_users as (
    -- the same user actions at the segment level (a user counts once per month x segment): each
    -- channel as it is, and the channels pooled into online / offline
    select month, channel as segment, 'channel' as segment_kind, user_id, did_visit, did_browse, did_cart, did_order
    from user_channel
    union all
    select
        month,
        case when list_contains($offline_channels, channel) then 'offline' else 'online' end as segment,
        'online_offline' as segment_kind,
        user_id,
        bool_or(did_visit) as did_visit,
        bool_or(did_browse) as did_browse,
        bool_or(did_cart) as did_cart,
        bool_or(did_order) as did_order
    from user_channel
    group by all
),

tracked as (
    select month, segment, bool_or(did_visit) as is_tracked from segment_users group by month, segment
),

counts as (
    select
        su.month,
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
            where su.did_order and b.is_eligible
            and (not t.is_tracked or (su.did_visit and su.did_browse and su.did_cart))
        ) as n_eligible,
        count(*) filter (
            where su.did_order and b.is_eligible and b.is_repurchased
            and (not t.is_tracked or (su.did_visit and su.did_browse and su.did_cart))
        ) as n_buy_again,
        max(b.window_closes_on) filter (
            where su.did_order and (not t.is_tracked or (su.did_visit and su.did_browse and su.did_cart))
        ) as window_closes_on
    from segment_users as su
    inner join tracked as t using (month, segment)
    left join buyers as b on b.user_id = su.user_id and b.month = su.month
    group by all
),

final as (
    select
        c.month,
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
        end as users,
        case when s.step = 'buy_again' then c.n_eligible end as eligible_users,
        case when s.step = 'buy_again' then c.window_closes_on end as window_closes_on
    from counts as c
    cross join step_spine as s
)

select * from final
order by
    month,
    segment_kind desc,
    segment,
    step_order
