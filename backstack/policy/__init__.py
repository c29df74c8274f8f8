"""Row-level security for engines that do not enforce it natively (SQLite): policies -> SQL predicates."""
