"""The SQLite engine: one WAL file, one writer and a few readers per process, PostgreSQL's
built-ins SQLite lacks registered as SQL functions, and introspection of its own catalog."""
