"""A data API request as typed values (`query`), parsed from its query string and headers (`parse`,
one module per grammar: `select`, `filter`, `order`, `headers`, on the cursor of `scan`). Pure: no
schema, no I/O."""
