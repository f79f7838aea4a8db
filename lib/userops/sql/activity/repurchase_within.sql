-- grain: one row per month x dimension x segment (dimensions: 'all', 'acquisition_channel',
--   'online_offline')
-- definition: the buyers of a month and their flags come from activity/repurchase_buyers
--   (included; the one definition the brief's key path shares). The buyers of a month in
--   [$from_date, $to_date) are the users with an order in it; each is anchored at their first
--   order of the month. repurchased = the user's next order (any later order, same day
--   included) came within $days x 24 h of that anchor.
--   Only buyers observed for the whole window by the end of $as_of (anchor + $days days <
--   $as_of + 1 day) are eligible; repurchase_rate = repurchased / eligible. online_offline is
--   the channel of the anchor order ('offline' = one of $offline_channels, else 'online');
--   the user's later orders would otherwise decide their own segment. Months are zero-filled per segment.
-- parameters: $from_date, $to_date (DATE, first days of months), $days (INTEGER),
--   $as_of (DATE, last observed day), $offline_channels (VARCHAR[], order channels placed in a store)
-- invariants: repurchased <= eligible <= buyers; a month is mature when eligible = buyers.
with flagged as (
    -- the buyers and their flags: sql/activity/repurchase_buyers.sql (one shared definition)
    select
        b.month,
        b.is_eligible,
        b.is_repurchased,
        case when list_contains($offline_channels, b.anchor_channel) then 'offline' else 'online' end as online_offline,
        u.channel
    from (
        -- include: activity/repurchase_buyers
    ) as b
    inner join dim_users as u using (user_id)
),

dims as (
    select unnest(['all', 'acquisition_channel', 'online_offline']) as dimension
),

segmented as (
    select
        f.month,
        d.dimension,
        case d.dimension
            when 'all' then 'all'
            when 'acquisition_channel' then f.channel
            when 'online_offline' then f.online_offline
        end as segment,
        f.is_eligible,
        f.is_repurchased
    from flagged as f
    cross join dims as d
),

month_spine as (
    select cast(range as date) as month
    from range(cast($from_date as timestamp), cast($to_date as timestamp), interval 1 month)
),

segment_spine as (
    select distinct dimension, segment from segmented
),

counts as (
    select
        month,
        dimension,
        segment,
        count(*) as buyers,
        count(*) filter (where is_eligible) as eligible,
        count(*) filter (where is_eligible and is_repurchased) as repurchased
    from segmented
    group by all
),

final as (
    select
        m.month,
        s.dimension,
        s.segment,
        coalesce(c.buyers, 0) as buyers,
        coalesce(c.eligible, 0) as eligible,
        coalesce(c.repurchased, 0) as repurchased
    from month_spine as m
    cross join segment_spine as s
    left join counts as c using (month, dimension, segment)
)

select *, repurchased / nullif(eligible, 0) as repurchase_rate
from final
order by month, dimension, segment
