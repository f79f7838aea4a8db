-- grain: one row per month x user group (new, returning, dormant), months starting in
--   [$from_date, $to_date); zero-filled (a group without users is a row of zeros).
-- definition: a user's group in a month is their lifecycle stage at the previous month end, from
--   recall_user_stages (play 04's rule, stated once in recall/user_stages.sql; built for these
--   months by recall.build_stages): new = no order before the month (stage_prev 'prospect':
--   registered users who have never bought, incl. users registering in the month); dormant =
--   churned at the previous month end; returning = every other buyer (new, growth, mature or
--   declining at the previous month end). reactivated = users with is_reactivated (the dormant
--   group's buyers: the one reactivation definition, user_stages.sql). base_users = the group's
--   eligible users (registered or with an order before the month end). Traffic basis = an
--   OBSERVED visit: visitors = users of the group with an event named in $visit_events (app /
--   mini-program sessions) or in $footfall_events (store footfall, logged only where a store
--   counts visits) in the month; session_visitors / footfall_visitors = those with each kind. A
--   purchase is never a visit by itself: buyers = users with >= 1 order in the month; converted =
--   buyers with an observed visit in the month; unobserved_buyers = buyers without one (e.g. in a
--   store that logs no footfall), reported apart, not as converted traffic. orders and gmv (paid,
--   yuan) = all the group's orders in the month. GMV = (visitors x converted / visitors +
--   unobserved_buyers) x (orders / buyers) x (gmv / orders) exactly.
-- parameters: $from_date, $to_date (DATE, first days of months, half-open), $visit_events,
--   $footfall_events (VARCHAR[], params brief.visit_events / brief.footfall_events)
-- invariants: converted <= visitors <= base_users; converted + unobserved_buyers = buyers <= orders;
--   session_visitors, footfall_visitors <= visitors; the three groups' orders and gmv sum to the
--   month's orders and gmv in fct_orders (every order belongs to exactly one group);
--   reactivated = buyers of the dormant group, 0 in the other groups.
with month_spine as (
    select
        cast(range as date) as month_start,
        cast(range + interval 1 month as date) as month_end
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

group_spine as (
    select * from (values ('new', 1), ('returning', 2), ('dormant', 3)) as t (user_group, group_order)
),

visits as (
    -- one row per user x month with an observed visit, and which kind
    select
        user_id,
        cast(date_trunc('month', ts) as date) as month_start,
        bool_or(list_contains($visit_events, event)) as by_session,
        bool_or(list_contains($footfall_events, event)) as by_footfall
    from events
    where
        (list_contains($visit_events, event) or list_contains($footfall_events, event))
        and ts >= $from_date and ts < $to_date
    group by all
),

grouped as (
    -- every user known by the month end, once per month, grouped by the stage at the previous month
    -- end, with the month's orders and GMV (orders_month, gmv_month of recall_user_stages)
    select
        s.user_id,
        m.month_start,
        m.month_end,
        s.is_reactivated,
        s.orders_month as n_orders,
        s.gmv_month as gmv,
        case
            when s.stage_prev = 'prospect' then 'new'
            when s.stage_prev = 'churned' then 'dormant'
            else 'returning'
        end as user_group
    from month_spine as m
    inner join recall_user_stages as s on s.month_start = m.month_start
),

user_facts as (
    select
        g.month_start,
        g.user_group,
        g.user_id,
        g.n_orders,
        g.gmv,
        g.is_reactivated,
        v.user_id is not null as is_visitor,
        coalesce(v.by_session, false) as is_session_visitor,
        coalesce(v.by_footfall, false) as is_footfall_visitor
    from grouped as g
    left join visits as v on v.user_id = g.user_id and v.month_start = g.month_start
),

cells as (
    select
        month_start,
        user_group,
        count(*) as base_users,
        count(*) filter (where is_visitor) as visitors,
        count(*) filter (where is_session_visitor) as session_visitors,
        count(*) filter (where is_footfall_visitor) as footfall_visitors,
        count(*) filter (where n_orders > 0) as buyers,
        count(*) filter (where n_orders > 0 and is_visitor) as converted,
        count(*) filter (where n_orders > 0 and not is_visitor) as unobserved_buyers,
        count(*) filter (where is_reactivated) as reactivated,
        sum(n_orders) as orders,
        sum(gmv) as gmv
    from user_facts
    group by all
),

final as (
    select
        m.month_start,
        s.user_group,
        s.group_order,
        coalesce(c.base_users, 0) as base_users,
        coalesce(c.visitors, 0) as visitors,
        coalesce(c.session_visitors, 0) as session_visitors,
        coalesce(c.footfall_visitors, 0) as footfall_visitors,
        coalesce(c.buyers, 0) as buyers,
        coalesce(c.converted, 0) as converted,
        coalesce(c.unobserved_buyers, 0) as unobserved_buyers,
        coalesce(c.reactivated, 0) as reactivated,
        cast(coalesce(c.orders, 0) as bigint) as orders,
        cast(coalesce(c.gmv, 0) as decimal(18, 2)) as gmv
    from month_spine as m
    cross join group_spine as s
    left join cells as c on c.month_start = m.month_start and c.user_group = s.user_group
)

select * from final
order by month_start, group_order
