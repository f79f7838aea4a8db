-- grain: one row per row of the registered frame _trigger_plan (list, source_id)
-- definition: the per-list holdout draw: score = the first 52 bits of
--   sha256('<salt>:<date>:<list>:<original user id>') in [0, 1) (the same hash as the global
--   holdout, userops.experiments.global_holdout_score with source_id '<date>:<list>:<id>'), so a
--   user's draw depends only on (date, list, user) and never on row order.
-- parameters: $salt, $date (VARCHAR)
-- invariants: one row per input row; 0 <= score < 1.
select
    list,
    source_id,
    cast(('0x' || substr(sha256($salt || ':' || $date || ':' || list || ':' || source_id), 1, 13)) as bigint)
        / 4503599627370496.0 as score
from _trigger_plan
order by list, source_id
