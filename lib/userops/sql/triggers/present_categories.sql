-- grain: one row per product category with an order line
-- definition: the categories present in the data (fct_order_lines), to skip cycle categories the
--   chain does not have.
-- parameters: none
-- invariants: one row per category.
select distinct category from fct_order_lines where category is not null order by category
