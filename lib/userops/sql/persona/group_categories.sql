-- grain: one row per dimension x group (of persona_groups) x product category
-- definition: what each group of users buys over the window [$from_date, $to_date): order
--   lines and line GMV (order_items.amount, yuan) per product category, zero-filled against the
--   categories of the products table so that a category a group never buys is a 0 row.
--   persona_groups(user_id, dimension, grp) is registered by the caller (userops.persona).
-- parameters: $from_date, $to_date (DATE, half-open window)
-- invariants: one row per dimension x grp x category; lines >= 0, gmv >= 0; summed over
--   categories, gmv equals the group's line GMV in the window.
with grp as (
    select user_id, dimension, grp from persona_groups
),

-- each user's lines per category first: a user is in one group per dimension, so the groups'
-- join reads one row per user x category instead of every line once per dimension
user_lines as (
    select user_id, category, count(*) as lines, sum(cast(amount as double)) as gmv
    from fct_order_lines
    where order_date >= $from_date and order_date < $to_date
    group by user_id, category
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
