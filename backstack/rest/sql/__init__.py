"""A plan compiled to SQL: what every engine shares (`common`, filters in `filter`, reads in `read`,
writes in `write`, the LRU of compiled statements per request shape in `statement_cache`), and what
each engine spells its own way (`engines`, chosen once per statement by `context.Ctx`). The engines
see only what lies below them: the statement's parameters (`statement.Binding`) and the read
builder's interface (`read_port.ReadPort`)."""
