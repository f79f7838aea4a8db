-- grain: one row per user in the registered table _trigger_users (user_id) with an order before $day_end
-- definition: the user's usual shopping hour = the mode of hour(ordered_at) over their orders
--   before $day_end (ties: the earliest hour). The users come as a joined table
--   (userops.db.id_table), not as a literal array: any number of them.
-- parameters: $day_end (TIMESTAMP)
-- invariants: one row per user; 0 <= usual_hour <= 23.
select user_id, hour(ordered_at) as usual_hour
from fct_orders
where user_id in (select user_id from _trigger_users) and ordered_at < $day_end
group by user_id, hour(ordered_at)
qualify row_number() over (partition by user_id order by count(*) desc, hour(ordered_at)) = 1
order by user_id
