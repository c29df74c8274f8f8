"""A request AST resolved against the schema (`resolve`): every table, column, embed (`relationships`)
and cast checked, and filter values parsed as PostgreSQL parses its input (`values`)."""
