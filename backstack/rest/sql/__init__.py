"""A plan compiled to SQL for both dialects: the shared building blocks (`common`), filters (`filter`,
text search in `fts`), reads (`read`), writes (`write`), and the LRU of compiled statements per
request shape (`statement_cache`)."""
