"""PostgreSQL's types for both engines: their names and kinds (`names`), and the range and
date/time types as computed in Python where SQLite runs them (`ranges`, `range_bounds`, `datetimes`)."""
