-- grain: one row per contract table (the order of the load).
-- definition: what the warehouse was built from: whether the table was supplied (absent optional
--   tables exist but are empty), rows loaded, rows set aside, and the first and last timestamp of
--   the table's time column (NULL for tables without one). Without `userops load --quarantine`
--   the loader is all-or-nothing (rejected_rows = 0); with it, row-level problems a chain can live
--   with are set aside into the rejects file and counted here (_load_meta.n_rejected).
-- parameters: none
-- invariants: one row per contract table; absent tables have n_rows = 0.
with meta as (
    select load_order, table_name, present, n_rows, n_rejected, source_file  -- load_order: 1.. as loaded
    from _load_meta
),

time_ranges as (
    select 'users' as table_name, 'registered_at' as time_column,
        min(registered_at) as first_at, max(registered_at) as last_at from users
    union all
    select 'orders', 'ordered_at', min(ordered_at), max(ordered_at) from orders
    union all
    select 'coupons', 'issued_at', min(issued_at), max(issued_at) from coupons
    union all
    select 'campaigns', 'started_at', min(started_at), max(started_at) from campaigns
    union all
    select 'campaign_members', 'assigned_at', min(assigned_at), max(assigned_at) from campaign_members
    union all
    select 'channel_spend', 'month', min(cast(month as timestamp)), max(cast(month as timestamp))
    from channel_spend
    union all
    select 'events', 'ts', min(ts), max(ts) from events
    union all
    select 'points_ledger', 'ts', min(ts), max(ts) from points_ledger
    union all
    select 'stores', 'opened_at', min(cast(opened_at as timestamp)), max(cast(opened_at as timestamp))
    from stores
),

final as (
    select
        m.load_order,
        m.table_name,
        m.present,
        m.n_rows,
        m.n_rejected as rejected_rows,
        t.time_column,
        t.first_at,
        t.last_at
    from meta as m
    left join time_ranges as t using (table_name)
)

select * from final
order by load_order
