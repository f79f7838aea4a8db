-- grain: one row per row of the registered frame _sim_members (campaign_id, user_id, arm,
--   assigned_at, touched_at, window_end: trigger list members, original ids)
-- definition: what the demo's response simulation needs per member: the user's warehouse key,
--   has_order = an order in (assigned_at, window_end] (the measurement window of
--   sql/triggers/trigger_outcomes.sql), last_order_id = the user's latest order before
--   assigned_at (its basket is repeated by a simulated response; null for a user who never
--   ordered), home_store_id.
-- parameters: none
-- invariants: one row per input row; has_order is 0 or 1.
with members as (
    select s.*, mu.user_id as user_key
    from _sim_members as s
    inner join map_user_id as mu on mu.source_id = s.user_id
),

in_window as (
    select distinct m.campaign_id, m.user_id
    from members as m
    inner join orders as o
        on o.user_id = m.user_key and o.ordered_at > m.assigned_at and o.ordered_at <= m.window_end
),

last_order as (
    select m.campaign_id, m.user_id, arg_max(o.order_id, o.ordered_at) as last_order_id
    from members as m
    inner join orders as o on o.user_id = m.user_key and o.ordered_at < m.assigned_at
    group by all
)

select
    m.campaign_id,
    m.user_id,
    m.user_key,
    cast(w.user_id is not null as integer) as has_order,
    l.last_order_id,
    u.home_store_id
from members as m
left join in_window as w using (campaign_id, user_id)
left join last_order as l using (campaign_id, user_id)
left join users as u on u.user_id = m.user_key
order by m.campaign_id, m.user_id
