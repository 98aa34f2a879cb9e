"""The query algebra: headings, conditions, expressions and fetching."""
