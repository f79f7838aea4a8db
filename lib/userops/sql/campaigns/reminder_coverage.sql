-- grain: one row (the whole period)
-- definition: what the reminder measurement (coupon_reminder_effect.sql) has to work with for
--   campaigns of kind $campaign_kind whose members were assigned in [$from_date, $to_date):
--   n_campaigns = such campaigns with members; n_closed = members whose window
--   (assigned_at, assigned_at + $window_hours hours] ended by the end of $as_of; n_holdout /
--   n_treatment = closed members per arm. The effect needs closed members in both arms.
-- parameters: $campaign_kind (VARCHAR), $from_date, $to_date (DATE), $as_of (DATE, last observed
--   day), $window_hours (INTEGER)
-- invariants: n_holdout + n_treatment <= n_closed.
with members as (
    select
        m.campaign_id,
        m.arm,
        m.assigned_at + to_hours($window_hours) < cast($as_of as timestamp) + interval 1 day as is_closed
    from campaign_members as m
    inner join campaigns as c using (campaign_id)
    where c.kind = $campaign_kind and m.assigned_at >= $from_date and m.assigned_at < $to_date
),

final as (
    select
        count(distinct campaign_id) as n_campaigns,
        count(*) filter (where is_closed) as n_closed,
        count(*) filter (where is_closed and arm = 'holdout') as n_holdout,
        count(*) filter (where is_closed and arm = 'treatment') as n_treatment
    from members
)

select * from final
