"""charts: the shared table builder speaks the report language."""

from __future__ import annotations

import pandas as pd

from userops import charts, i18n


def test_table_caption_of_a_cut_table_is_in_the_report_language():
    df = pd.DataFrame({"store": ["A", "B", "C", "D", "E"], "orders": [5, 4, 3, 2, 1]})  # 5 rows, 2 shown
    i18n.set_language("zh")
    html = charts.table_html(df, max_rows=2).to_html()
    assert "前 2 行（共 5 行）" in html and "First" not in html
    i18n.set_language("en")
    assert "First 2 of 5 rows" in charts.table_html(df, max_rows=2).to_html()
    assert "<caption" not in charts.table_html(df, max_rows=5).to_html()  # nothing cut, no caption
    assert "my caption" in charts.table_html(df, max_rows=2, caption="my caption").to_html()
