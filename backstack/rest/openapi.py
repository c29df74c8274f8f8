"""The OpenAPI (Swagger 2.0, as PostgREST serves) description of the exposed tables at GET /rest/v1/.

Built from the cached schema once per schema fingerprint; Postman and Insomnia import it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.db.schema.model import Column, Schema, Table

# Column kind -> (swagger type, format)
_KIND_TYPES: dict[str, tuple[str, str | None]] = {
    "int": ("integer", None),
    "float": ("number", None),
    "numeric": ("number", None),
    "bool": ("boolean", None),
    "json": ("object", None),  # refined below: jsonb may hold any JSON value
    "array": ("array", None),
    "uuid": ("string", "uuid"),
    "timestamp": ("string", "date-time"),
    "date": ("string", "date"),
    "time": ("string", "time"),
}

_QUERY_PARAMS: dict[str, dict[str, Any]] = {
    "select": {
        "name": "select",
        "in": "query",
        "type": "string",
        "required": False,
        "description": "Filtering Columns",
    },
    "order": {"name": "order", "in": "query", "type": "string", "required": False, "description": "Ordering"},
    "limit": {
        "name": "limit",
        "in": "query",
        "type": "string",
        "required": False,
        "description": "Limiting and Pagination",
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "type": "string",
        "required": False,
        "description": "Limiting and Pagination",
    },
    "on_conflict": {
        "name": "on_conflict",
        "in": "query",
        "type": "string",
        "required": False,
        "description": "On Conflict",
    },
    "columns": {
        "name": "columns",
        "in": "query",
        "type": "string",
        "required": False,
        "description": "Columns to insert",
    },
    "range": {
        "name": "Range",
        "in": "header",
        "type": "string",
        "required": False,
        "description": "Limiting and Pagination",
    },
    "rangeUnit": {
        "name": "Range-Unit",
        "in": "header",
        "type": "string",
        "required": False,
        "default": "items",
        "description": "Limiting and Pagination",
    },
    "preferCount": {
        "name": "Prefer",
        "in": "header",
        "type": "string",
        "required": False,
        "enum": ["count=none", "count=exact", "count=planned", "count=estimated"],
        "description": "Preference",
    },
    "preferReturn": {
        "name": "Prefer",
        "in": "header",
        "type": "string",
        "required": False,
        "enum": ["return=representation", "return=minimal", "return=none"],
        "description": "Preference",
    },
    "preferPost": {
        "name": "Prefer",
        "in": "header",
        "type": "string",
        "required": False,
        "enum": [
            "return=representation",
            "return=minimal",
            "return=none",
            "resolution=ignore-duplicates",
            "resolution=merge-duplicates",
        ],
        "description": "Preference",
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/parameters/{name}"}


def _column_schema(table: Table, column: Column) -> dict[str, Any]:
    swagger_type, fmt = _KIND_TYPES.get(column.kind, ("string", None))
    prop: dict[str, Any] = {"format": fmt or column.type, "type": swagger_type}
    if column.kind == "json":
        prop.pop("type")
    if column.kind == "array":
        prop["items"] = {"type": "string"}
    notes = []
    if column.name in table.primary_key:
        notes.append("Note:\nThis is a Primary Key.<pk/>")
    for fk in table.foreign_keys:
        if fk.columns == (column.name,):
            notes.append(
                f"Note:\nThis is a Foreign Key to `{fk.ref_table}.{fk.ref_columns[0]}`.<fk "
                f"table='{fk.ref_table}' column='{fk.ref_columns[0]}'/>"
            )
    if notes:
        prop["description"] = "\n".join(notes)
    default = _default_value(column)
    if default is not _NO_DEFAULT:
        prop["default"] = default
    return prop


_NO_DEFAULT: Any = object()
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_QUOTED = re.compile(r"'((?:[^']|'')*)'(::[\w\s\[\]\".]+)?")


def _default_value(column: Column) -> Any:
    """The column's DEFAULT as a JSON value of the property's type, as PostgREST does; expressions
    (`now()`, `nextval(...)`) have none. A string here for an integer property would make the
    document invalid Swagger."""
    text = (column.default or "").strip()
    if column.kind in ("int", "float", "numeric"):
        if _NUMBER.fullmatch(text):
            return int(text) if column.kind == "int" and "." not in text else float(text)
        return _NO_DEFAULT
    if column.kind == "bool":
        return {"true": True, "false": False, "1": True, "0": False}.get(text.lower(), _NO_DEFAULT)
    match = _QUOTED.fullmatch(text)
    if match is None or column.kind in ("json", "array"):
        return _NO_DEFAULT
    return match.group(1).replace("''", "'")


def _definition(table: Table) -> dict[str, Any]:
    required = [c.name for c in table.columns.values() if not c.nullable and c.default is None and not c.generated]
    definition: dict[str, Any] = {
        "type": "object",
        "properties": {c.name: _column_schema(table, c) for c in table.columns.values()},
    }
    if required:
        definition["required"] = required
    return definition


def _row_filters(table: Table) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "in": "query", "required": False, "type": "string", "format": c.type}
        for c in table.columns.values()
    ]


def _body(table: Table) -> dict[str, Any]:
    return {
        "name": table.name,
        "in": "body",
        "required": False,
        "description": table.name,
        "schema": {"$ref": f"#/definitions/{table.name}"},
    }


def _path(table: Table) -> dict[str, Any]:
    ok = {
        "200": {"description": "OK", "schema": {"type": "array", "items": {"$ref": f"#/definitions/{table.name}"}}},
        "206": {"description": "Partial Content"},
    }
    filters = _row_filters(table)
    path: dict[str, Any] = {
        "get": {
            "tags": [table.name],
            "responses": ok,
            "parameters": [
                *filters,
                *map(_ref, ["select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"]),
            ],
        },
    }
    if not table.is_view:
        path["post"] = {
            "tags": [table.name],
            "responses": {"201": {"description": "Created"}},
            "parameters": [_body(table), _ref("select"), _ref("columns"), _ref("on_conflict"), _ref("preferPost")],
        }
        path["patch"] = {
            "tags": [table.name],
            "responses": {"204": {"description": "No Content"}},
            "parameters": [*filters, _body(table), _ref("preferReturn")],
        }
        path["delete"] = {
            "tags": [table.name],
            "responses": {"204": {"description": "No Content"}},
            "parameters": [*filters, _ref("preferReturn")],
        }
    return path


def build_openapi(schema: Schema, *, version: str, base_path: str = "/rest/v1") -> dict[str, Any]:
    """Swagger 2.0 document of every table and view in `schema`."""
    tables = sorted(schema.tables.values(), key=lambda t: t.name)
    return {
        "swagger": "2.0",
        "info": {"title": "backstack data API", "description": "PostgREST-compatible data API", "version": version},
        "basePath": base_path,
        "schemes": ["http", "https"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "produces": ["application/json", "application/vnd.pgrst.object+json", "text/csv"],
        "paths": {
            "/": {
                "get": {
                    "tags": ["Introspection"],
                    "summary": "OpenAPI description (this document)",
                    "produces": ["application/openapi+json", "application/json"],
                    "responses": {"200": {"description": "OK"}},
                }
            },
            **{f"/{t.name}": _path(t) for t in tables},
        },
        "definitions": {t.name: _definition(t) for t in tables},
        "parameters": _QUERY_PARAMS,
        "securityDefinitions": {
            "apikey": {"type": "apiKey", "name": "apikey", "in": "header"},
            "bearer": {"type": "apiKey", "name": "Authorization", "in": "header"},
        },
        "security": [{"apikey": [], "bearer": []}],
    }
