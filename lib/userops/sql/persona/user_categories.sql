-- grain: one row per user x product category the user bought in the window [$from_date, $to_date);
--   built once per connection and window by persona.user_categories into the temp table
--   persona_user_categories that user_features.sql and group_categories.sql read (the window's
--   order lines are aggregated per user x category once per run, not once per metric).
-- definition: the basket mix of each buyer: order lines and line GMV (order_items.amount, yuan:
--   the exact decimal sum as a double, so equal sums are equal doubles) per category, and
--   line_share = the category's share of the user's order lines (lines, not GMV, so one
--   expensive can of milk powder does not hide the basket mix). Categories are the chain's own
--   values (products.category); lines of products without a category are left out. A category
--   the user never bought has no row (userops.persona fills it with 0 when it pivots the rows to
--   the cat_<category> feature columns).
-- parameters: $from_date, $to_date (DATE, half-open window)
-- invariants: one row per user x category; lines >= 1; line_share in (0, 1] and summing to 1 per
--   user.
with lines as (
    select user_id, category, amount
    from fct_order_lines
    where order_date >= $from_date and order_date < $to_date and category is not null
),

counted as (
    select user_id, category, count(*) as lines, cast(sum(amount) as double) as gmv
    from lines
    group by user_id, category
),

-- each user's total lines by a group by joined back, not a window over the user's rows
totals as (
    select user_id, sum(lines) as total_lines
    from counted
    group by user_id
),

final as (
    select c.*, c.lines / t.total_lines as line_share
    from counted as c
    inner join totals as t using (user_id)
)

select * from final
order by user_id, category
