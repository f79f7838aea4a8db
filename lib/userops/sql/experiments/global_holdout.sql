-- grain: one row per registered user
-- definition: the persistent global control group. score = the first 52 bits of
--   sha256('<salt>:<original user id>') as a number in [0, 1) (the same value as
--   userops.experiments.global_holdout_score, on every run and every engine: no engine hash);
--   in_global_holdout = score < $share. Global-holdout users are kept out of every touch list.
-- parameters: $salt (VARCHAR), $share (DOUBLE, 0 <= share < 1)
-- invariants: one row per user; the assignment of a user never changes while salt is kept.
with users as (
    select u.user_id, m.source_id  -- the id as in the export (map_user_id, built at load)
    from users as u
    inner join map_user_id as m using (user_id)
),

scored as (
    select
        user_id,
        cast(('0x' || substr(sha256($salt || ':' || source_id), 1, 13)) as bigint) / 4503599627370496.0 as score
    from users
)

select user_id, score, score < $share as in_global_holdout
from scored
order by user_id
