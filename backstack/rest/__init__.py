"""PostgREST-compatible data API (`/rest/v1`): a request goes parse -> plan -> SQL -> run.

Layers (each imports only those below it; docs/architecture.md, pyproject contract "rest layers"):
routes.py (HTTP) > rpc/ (`/rpc/<fn>`) > service.py (run a read or write) > changes.py, put.py,
openapi.py > sql/ (compile, statement cache) > plan/ (resolve against the schema) > request/ (the
query string and headers as an AST) > errors.py (the PostgREST error catalogue).
"""
