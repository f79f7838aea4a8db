-- grain: one row per user x reminder scene due for a reminder
-- definition: the scenes come in as parallel lists ($scenes: a category name or a product id,
--   $scene_labels: the label written to the list, e.g. 'mother_baby' or 'milk_powder' for every
--   milk powder product, $cycle_days: the scene's Kaplan-Meier median days between purchases).
--   For each user and scene with a purchase in [$from_date, $cutoff): last_purchase_at = the
--   latest such order; the user's cycle = the median of their own days between purchase days
--   when they have at least $min_gaps such gaps, else the scene's $cycle_days; expected_at =
--   last_purchase_at + cycle. Due = expected_at in [$cutoff + $lead_days, $cutoff + $lead_days +
--   $horizon_days): the CRM reminds $lead_days before expected_at, within the $horizon_days days
--   after the month. A label is listed once per user (the earliest expected_at).
-- parameters: $from_date (DATE), $cutoff (TIMESTAMP, first instant after the month),
--   $scenes (VARCHAR[], each scene once), $scene_labels (VARCHAR[]), $cycle_days (DOUBLE[]),
--   $min_gaps, $lead_days, $horizon_days (INTEGER)
-- invariants: one row per (user_id, category); expected_at inside the due window;
--   last_purchase_at < $cutoff.
with scenes as (
    -- the three lists zipped by position (one unnest per select: Spark allows one generator)
    select $scenes[k.range] as scene, $scene_labels[k.range] as label, $cycle_days[k.range] as cycle_days
    from range(1, array_length($scenes) + 1) as k
),

lines as (
    -- a line counts for a scene by its category or else by its product id: two semi-joins on
    -- equality (hash joins), not one join on an OR (a nested loop over lines x scenes); the
    -- scenes' labels and cycles join the much smaller per-user rows below
    select user_id, ordered_at, order_date, category as scene
    from fct_order_lines
    where ordered_at >= $from_date and ordered_at < $cutoff and category in (select scene from scenes)
    union all
    select user_id, ordered_at, order_date, product_id as scene
    from fct_order_lines
    where
        ordered_at >= $from_date and ordered_at < $cutoff and product_id in (select scene from scenes)
        and (category is null or category <> product_id)
),

purchase_days as (
    select user_id, scene, order_date, max(ordered_at) as last_at
    from lines
    group by all
),

gaps as (
    select
        *,
        date_diff('day', lag(order_date) over (partition by user_id, scene order by order_date), order_date) as gap
    from purchase_days
),

per_scene as (
    select
        user_id,
        scene,
        max(last_at) as last_purchase_at,
        count(gap) as n_gaps,
        median(gap) as own_cycle_days
    from gaps
    group by all
),

per_user as (
    select p.*, s.label, s.cycle_days as scene_cycle_days
    from per_scene as p
    inner join scenes as s using (scene)
),

expected as (
    select
        *,
        case when n_gaps >= $min_gaps then own_cycle_days else scene_cycle_days end as cycle_days,
        last_purchase_at + to_seconds(cast(round(
            86400 * case when n_gaps >= $min_gaps then own_cycle_days else scene_cycle_days end
        ) as bigint)) as expected_at
    from per_user
),

final as (
    select
        user_id,
        label as category,
        scene,
        last_purchase_at,
        expected_at,
        cycle_days,
        n_gaps >= $min_gaps as is_own_cycle
    from expected
    where
        expected_at >= $cutoff + to_days($lead_days)
        and expected_at < $cutoff + to_days($lead_days + $horizon_days)
    qualify row_number() over (partition by user_id, label order by expected_at, scene) = 1
)

select * from final
order by user_id, category
