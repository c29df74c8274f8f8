"""The database layer: both engines, the PostgreSQL -> SQLite translator, the schema model.

Layers (each imports only those below it; docs/architecture-db.md, pyproject contract "db layers"):
engine.py (the Engine protocol, `connect`) and migrate.py > sqlite/ | postgres/ | translate/
(independent of each other) > schema/ > catalog/ | pgtypes/ > dialect.py | errors.py.
"""
