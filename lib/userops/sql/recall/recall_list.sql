-- grain: one row per user to recall right after the month ending $as_of
-- definition: from recall_user_stages at $as_of: at-risk buyers (not churned, p_gap_at_least <
--   $at_risk_p) and churned buyers dormant at most $max_recency_days days, minus users put in a
--   recall campaign (either arm) in the last $cooldown_days days (frequency cap). Per user
--   (value_at_stake is added by userops.recall.recall_list from buyer_values): need = the
--   category with the most spend over the user's history; store_share = share of orders in
--   an offline order channel ($offline_channels); send_hour = the hour of day the user orders
--   most (ties: earliest). Channel rule: store_share >= $offline_share and not churned ->
--   $channel_store_active (still visits; default offline_push at the scan-to-pay checkout);
--   store_share >= $offline_share and churned -> $channel_store_churned (default sms);
--   otherwise $channel_online (an online buyer; default wechat_notice). split_score = the user's
--   stable draw in [0, 1) for a randomised channel split: the first 52 bits of
--   sha256('<$split_salt>:<original user id>') (the same on every run and engine; userops.recall
--   turns it into the channel_arm column).
-- parameters: $as_of (DATE, a month end), $at_risk_p (DOUBLE), $max_recency_days,
--   $cooldown_days (INTEGER), $offline_share (DOUBLE), $offline_channels (VARCHAR[],
--   params data.offline_order_channels), $channel_store_active, $channel_store_churned,
--   $channel_online (VARCHAR, params recall.channel_*), $split_salt (VARCHAR)
-- invariants: one row per user; segment in (at_risk, churned); every user has a channel; need
--   'unknown' only without order lines.
with stages as (
    select * from recall_user_stages where month_end = $as_of
),

recent_members as (
    select distinct m.user_id
    from campaign_members as m
    inner join campaigns as c using (campaign_id)
    where
        c.kind = 'recall'
        and m.assigned_at < cast($as_of as timestamp) + interval 1 day
        and m.assigned_at >= cast($as_of as timestamp) + interval 1 day - to_days(cast($cooldown_days as integer))
),

candidates as (
    select
        s.user_id,
        case when s.stage = 'churned' then 'churned' else 'at_risk' end as segment,
        s.stage,
        s.recency_days,
        s.n_orders,
        s.p_gap_at_least
    from stages as s
    where
        (s.stage in ('new', 'growth', 'mature', 'declining') and s.p_gap_at_least < $at_risk_p)
        or (s.stage = 'churned' and s.recency_days <= $max_recency_days)
),

pool as (
    select c.* from candidates as c
    anti join recent_members as r using (user_id)
),

history as (
    select o.user_id, o.order_channel, hour(o.ordered_at) as order_hour
    from fct_orders as o
    inner join pool as p using (user_id)
    where o.order_date <= $as_of
),

mix as (
    select
        user_id,
        avg(case when list_contains($offline_channels, order_channel) then 1.0 else 0.0 end) as store_share
    from history
    group by user_id
),

hours as (
    select user_id, order_hour as send_hour
    from (
        select
            user_id,
            order_hour,
            row_number() over (partition by user_id order by count(*) desc, order_hour) as rn
        from history
        group by user_id, order_hour
    )
    where rn = 1
),

needs as (
    select user_id, category as need
    from (
        select
            l.user_id,
            l.category,
            row_number() over (partition by l.user_id order by sum(l.amount) desc, l.category) as rn
        from fct_order_lines as l
        inner join pool as p using (user_id)
        where l.order_date <= $as_of
        group by l.user_id, l.category
    )
    where rn = 1
),

final as (
    select
        p.user_id,
        p.segment,
        p.stage,
        p.recency_days,
        p.n_orders,
        p.p_gap_at_least,
        coalesce(n.need, 'unknown') as need,
        x.store_share,
        h.send_hour,
        case
            when x.store_share >= $offline_share and p.segment = 'at_risk' then $channel_store_active
            when x.store_share >= $offline_share then $channel_store_churned
            else $channel_online
        end as channel,
        cast(('0x' || substr(sha256($split_salt || ':' || i.source_id), 1, 13)) as bigint)
        / 4503599627370496.0 as split_score
    from pool as p
    inner join map_user_id as i using (user_id)
    inner join mix as x using (user_id)
    inner join hours as h using (user_id)
    left join needs as n using (user_id)
)

select * from final
order by user_id
