-- grain: one row per user in the registered table _trigger_users (user_id)
-- definition: the user's original id as in the export (map_user_id, built at load). The users come
--   as a joined table (userops.db.id_table), not as a literal array: any number of them.
-- parameters: none
-- invariants: one row per user of _trigger_users that the warehouse knows.
select m.user_id, m.source_id
from map_user_id as m
where m.user_id in (select user_id from _trigger_users)
order by m.user_id
