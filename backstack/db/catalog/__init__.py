"""SQLite's stand-in for the PostgreSQL catalogs SQLite lacks: RLS flags, policies, grants, functions.

Migrations written for PostgreSQL (`create policy`, `grant`, `create function ... language sql`)
become rows of `_backstack_*` catalog tables on SQLite (written by db.translate), in the
migration's own transaction, and introspection (db.schema) reads them back into the schema model.
`rls`, `function_acl` and `publication` (the `supabase_realtime` tables and change outbox) hold
the tables, `stamp` the schema-version bump after every change.
"""
