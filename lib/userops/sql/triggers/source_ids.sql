-- grain: one row per user in $user_ids
-- definition: the user's original id as in the export (map_user_id, built at load).
-- parameters: $user_ids (BIGINT[])
-- invariants: one row per user.
select user_id, source_id from map_user_id where list_contains($user_ids, user_id) order by user_id
