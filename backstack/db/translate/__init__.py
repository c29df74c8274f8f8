"""PostgreSQL migrations -> SQLite statements (entry point: `ddl.translate`).

Tables, views, indexes and expressions are rewritten on sqlglot's AST; policies, grants and SQL
functions, which SQLite cannot hold, become rows of the `db.catalog` tables.
"""
