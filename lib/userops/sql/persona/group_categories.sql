-- grain: one row per dimension x group (of persona_groups) x product category
-- definition: what each group of users buys over the feature window: order lines and line GMV
--   (order_items.amount, yuan) per product category, zero-filled against the categories of the
--   products table so that a category a group never buys is a 0 row. The window's lines per
--   user x category come from persona_user_categories (user_categories.sql, built once per run
--   for the window by the caller); persona_groups(user_id, dimension, grp) is registered by the
--   caller (userops.persona).
-- parameters: none (the window is persona_user_categories')
-- invariants: one row per dimension x grp x category; lines >= 0, gmv >= 0; summed over
--   categories, gmv equals the group's line GMV in the window.
with grp as (
    select user_id, dimension, grp from persona_groups
),

-- each user's lines per category of the window, aggregated once per run (user_categories.sql):
-- a user is in one group per dimension, so the groups' join reads one row per user x category
user_lines as (
    select user_id, category, lines, gmv
    from persona_user_categories
),

bought as (
    select g.dimension, g.grp, l.category, cast(sum(l.lines) as bigint) as lines, sum(l.gmv) as gmv
    from grp as g
    inner join user_lines as l using (user_id)
    group by all
),

-- the groups first, then their categories (not every user's categories made distinct)
spine as (
    select g.dimension, g.grp, p.category
    from (select distinct dimension, grp from grp) as g
    cross join (select distinct category from products where category is not null) as p
),

final as (
    select
        s.dimension,
        s.grp,
        s.category,
        coalesce(b.lines, 0) as lines,
        coalesce(b.gmv, 0) as gmv
    from spine as s
    left join bought as b using (dimension, grp, category)
)

select * from final
order by dimension, grp, category
