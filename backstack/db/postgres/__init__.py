"""The PostgreSQL engine: an asyncpg pool, the caller's role and claims as session state,
Supabase's roles and extensions, schema-change notifications, and catalog introspection."""
