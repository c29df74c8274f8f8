"""All SQL of auth: users, identities, sessions, one-time tokens, flow state, MFA factors, the dev
inbox and the schema (schema/, DDL per area). Statements are written once in PostgreSQL spelling
and compiled for the engine by `AuthSql` (sql.py); `AuthDb` (db.py) carries the engine and it.
"""
