"""The PostgREST error catalogue: one factory per code, each returning a `core.errors` class.

Messages, details and hints follow PostgREST's wording so clients (and people searching the
error text) see what a real PostgREST says. Raise what a factory returns: `raise not_embedded("x")`.
"""

from __future__ import annotations

from typing import Any

from backstack.core.errors import (
    ApiError,
    BadRequest,
    DatabaseError,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    RangeNotSatisfiable,
    Unavailable,
)

# ---------------------------------------------------------------- PGRST0xx: connection


def db_unavailable(details: str | None = None) -> Unavailable:
    """PGRST000: the database cannot be reached."""
    return Unavailable("PGRST000", "Could not connect with the database", details)


def schema_cache_unavailable(details: str | None = None) -> Unavailable:
    """PGRST002: the schema cache could not be loaded."""
    return Unavailable("PGRST002", "Could not query the database for the schema cache. Retrying.", details)


def pool_timeout() -> Unavailable:
    """PGRST003: no connection became free in time (504, as PostgREST)."""
    return Unavailable("PGRST003", "Timed out acquiring connection from connection pool.", status=504)


# ---------------------------------------------------------------- PGRST1xx: the request


def parse_error(what: str, raw: str, details: str, *, column: int | None = None) -> BadRequest:
    """PGRST100: `what` ("filter", "select parameter", "order"...) has bad syntax.

    PostgREST's message quotes the parser name and adds the position: the exact text
    `"failed to parse filter (eq)" (line 1, column 3)`.
    """
    message = f'"failed to parse {what} ({raw})"'
    if column is not None:
        message += f" (line 1, column {column})"
    return BadRequest("PGRST100", message, details)


def too_many_terms(limit: int) -> BadRequest:
    """PGRST100: more filter terms than the server allows (a cheap guard against huge queries)."""
    return BadRequest(
        "PGRST100",
        f"The request has more than {limit} filter terms",
        f"Filter terms are limited to {limit} per request, counting every condition inside or=/and=",
        "Simplify the filters or raise the max_filter_terms setting",
    )


def too_many_embeds(limit: int) -> BadRequest:
    """PGRST100: more embedded resources than the server allows (each one is a subquery to plan)."""
    return BadRequest(
        "PGRST100",
        f"The request embeds more than {limit} resources",
        f"Embedded resources are limited to {limit} per request, counting every level",
        "Select fewer embeds, or split the request",
    )


def target_list_too_long(limit: int) -> DatabaseError:
    """54011: a select list longer than PostgreSQL accepts (what it answers, on both engines)."""
    return _db_error("54011", f"target lists can have at most {limit} entries")


def statement_too_complex(reason: str) -> DatabaseError:
    """54001: a statement nested or sized beyond what the database can parse (PostgreSQL's code for it)."""
    return _db_error(
        "54001",
        "statement too complex",
        reason,
        "Nest fewer embeds or logic trees, or send fewer select, order or filter terms.",
    )


def too_deep(limit: int) -> BadRequest:
    """PGRST100: embeds or logic trees nest deeper than the server allows."""
    return BadRequest(
        "PGRST100",
        f"The request nests embeds or logic trees deeper than {limit} levels",
        f"Nesting is limited to {limit} levels",
        "Flatten the query or raise the max_nesting setting",
    )


def invalid_rpc_method(method: str) -> MethodNotAllowed:
    """PGRST101: a verb functions do not accept."""
    return MethodNotAllowed("PGRST101", f"Cannot use the {method} method on RPC")


def invalid_body(message: str) -> BadRequest:
    """PGRST102: "Empty or invalid json", "All object keys must match"..."""
    return BadRequest("PGRST102", message)


def negative_limit() -> RangeNotSatisfiable:
    """PGRST103: `limit=-1`."""
    return _range_error("Limit should be greater than or equal to zero.")


def range_lower_gt_upper() -> RangeNotSatisfiable:
    """PGRST103: `Range: 5-2`."""
    return _range_error("The lower boundary must be lower than or equal to the upper boundary in the Range header.")


def offset_out_of_bounds(offset: int, total: int) -> RangeNotSatisfiable:
    """PGRST103: an offset past the known total; `Content-Range: */total` tells the client the total, as PostgREST."""
    error = _range_error(f"An offset of {offset} was requested, but there are only {total} rows.")
    error.headers["Content-Range"] = f"*/{total}"
    return error


def negative_offset() -> DatabaseError:
    """`offset=-1`: PostgREST passes it to PostgreSQL, which answers 2201X."""
    return DatabaseError("2201X", "OFFSET must not be negative")


def invalid_put_filters() -> MethodNotAllowed:
    """PGRST105: PUT filters must be exactly the primary key with `eq`."""
    return MethodNotAllowed("PGRST105", "Filters must include all and only primary key columns with 'eq' operators")


def invalid_schema(schema: str, exposed: list[str]) -> NotAcceptable:
    """PGRST106: Accept-Profile / Content-Profile names a schema that is not exposed."""
    hint = "Only the following schemas are exposed: " + ", ".join(exposed)
    return NotAcceptable("PGRST106", f"Invalid schema: {schema}", None, hint)


def media_type_unavailable(media_types: list[str]) -> NotAcceptable:
    """PGRST107: nothing in Accept can be produced."""
    return NotAcceptable("PGRST107", "None of these media types are available: " + ", ".join(media_types))


def not_embedded(resource: str, *, aliased_as: str | None = None) -> BadRequest:
    """PGRST108: a filter/order/limit names an embed that is not in `select`."""
    message = f"'{resource}' is not an embedded resource in this request"
    if aliased_as is not None:
        return BadRequest(
            "PGRST108",
            message,
            "Target names are not allowed in filters if they have an alias",
            f"Change '{resource}' to '{aliased_as}' in filters, orders or limits.",
        )
    hint = f"Verify that '{resource}' is included in the 'select' query parameter."
    return BadRequest("PGRST108", message, None, hint)


def put_limit_not_allowed() -> BadRequest:
    """PGRST114."""
    return BadRequest("PGRST114", "limit/offset querystring parameters are not allowed for PUT")


def put_pk_mismatch() -> BadRequest:
    """PGRST115."""
    return BadRequest("PGRST115", "Payload values do not match URL in primary key column(s)")


def singular_row_count(rows: int) -> NotAcceptable:
    """PGRST116: `application/vnd.pgrst.object+json` with 0 or several rows."""
    return NotAcceptable(
        "PGRST116", "Cannot coerce the result to a single JSON object", f"The result contains {rows} rows"
    )


def unsupported_method(method: str) -> MethodNotAllowed:
    """PGRST117."""
    return MethodNotAllowed("PGRST117", f"Unsupported HTTP method: {method}")


def related_order_not_to_one(origin: str, target: str) -> BadRequest:
    """PGRST118: `order=rel(col)` where rel is to-many."""
    return BadRequest(
        "PGRST118",
        f"A related order on '{target}' is not possible",
        f"'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship",
    )


def bad_embed_operator(target: str) -> BadRequest:
    """PGRST120: an operator other than `is.null` on an embedded resource."""
    return BadRequest(
        "PGRST120",
        f"Bad operator on the '{target}' embedded resource",
        "Only is null or not is null filters are allowed on embedded resources",
    )


def invalid_preferences(invalid: tuple[str, ...] | list[str]) -> BadRequest:
    """PGRST122: unknown Prefer tokens with `handling=strict`."""
    return BadRequest(
        "PGRST122",
        "Invalid preferences given with handling=strict",
        "Invalid preferences: " + ", ".join(invalid),
    )


def aggregates_not_allowed() -> BadRequest:
    """PGRST123."""
    return BadRequest("PGRST123", "Use of aggregate functions is not allowed")


def max_affected_exceeded(rows: int) -> BadRequest:
    """PGRST124: `Prefer: handling=strict, max-affected=N` and more rows changed."""
    return BadRequest(
        "PGRST124", "Query result exceeds max-affected preference constraint", f"The query affects {rows} rows"
    )


def invalid_path() -> NotFound:
    """PGRST125: e.g. `/rest/v1/a/b`."""
    return NotFound("PGRST125", "Invalid path specified in request URL")


def openapi_disabled() -> NotFound:
    """PGRST126."""
    return NotFound("PGRST126", "Root endpoint metadata is disabled")


def not_implemented(details: str) -> BadRequest:
    """PGRST127: a PostgREST feature this backend does not offer (often a SQLite gap)."""
    return BadRequest("PGRST127", "Feature not implemented", details)


# ---------------------------------------------------------------- PGRST2xx: the schema cache


def no_relationship(parent: str, child: str, schema: str, hint: str | None = None) -> BadRequest:
    """PGRST200: no foreign key links `parent` and `child` (optionally using `!hint`)."""
    using = f"' using the hint '{hint}" if hint else ""
    details = (
        f"Searched for a foreign key relationship between '{parent}' and '{child}{using}' "
        f"in the schema '{schema}', but no matches were found."
    )
    return BadRequest(
        "PGRST200",
        f"Could not find a relationship between '{parent}' and '{child}' in the schema cache",
        details,
    )


def ambiguous_relationship(parent: str, child: str, details: list[dict[str, Any]], choices: list[str]) -> ApiError:
    """PGRST201 (HTTP 300): several foreign keys could serve `parent` -> `child`."""
    hint = (
        f"Try changing '{child}' to one of the following: "
        + ", ".join(f"'{choice}'" for choice in choices)
        + ". Find the desired relationship in the 'details' key."
    )
    message = f"Could not embed because more than one relationship was found for '{parent}' and '{child}'"
    return ApiError("PGRST201", message, details, hint, status=300)


def function_not_found(schema: str, name: str, args: list[str], hint: str | None = None) -> NotFound:
    """PGRST202: no function with that name and those argument names."""
    signature = f"{schema}.{name}"
    with_args = f"({', '.join(args)})" if args else " without parameters"
    params = (" with parameters " if len(args) > 1 else " with parameter ") + ", ".join(args)
    details = (
        f"Searched for the function {signature}{params if args else ' without parameters'}, "
        "but no matches were found in the schema cache."
    )
    message = f"Could not find the function {signature}{with_args} in the schema cache"
    return NotFound("PGRST202", message, details, hint)


def ambiguous_function(candidates: list[str]) -> ApiError:
    """PGRST203 (HTTP 300): overloads that the given arguments cannot tell apart."""
    return ApiError(
        "PGRST203",
        "Could not choose the best candidate function between: " + ", ".join(candidates),
        None,
        "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
        status=300,
    )


def column_not_found(table: str, column: str) -> BadRequest:
    """PGRST204: a written column (body key or `columns=`) that the table lacks."""
    return BadRequest("PGRST204", f"Could not find the '{column}' column of '{table}' in the schema cache")


def table_not_found(schema: str, table: str, suggestion: str | None = None) -> NotFound:
    """PGRST205: an unknown table, with PostgREST's "Perhaps you meant" hint when one is close."""
    hint = f"Perhaps you meant the table '{schema}.{suggestion}'" if suggestion else None
    return NotFound("PGRST205", f"Could not find the table '{schema}.{table}' in the schema cache", None, hint)


def _range_error(details: str) -> RangeNotSatisfiable:
    return RangeNotSatisfiable("PGRST103", "Requested range not satisfiable", details)


# ================================================================ query compiler (rest.plan, rest.sql)
# Added by the plan/sql engineer; keep additions to this block append-only.


def _db_error(sqlstate: str, message: str, details: Any = None, hint: str | None = None) -> DatabaseError:
    from backstack.core.errors import status_for_sqlstate

    return DatabaseError(sqlstate, message, details, hint, status=status_for_sqlstate(sqlstate))


def undefined_column(table: str, column: str) -> DatabaseError:
    """42703: a column in select/filter/order that the table lacks (PostgREST <= 13 wording)."""
    return _db_error("42703", f"column {table}.{column} does not exist")


def invalid_text_representation(type_name: str, value: str) -> DatabaseError:
    """22P02: a filter value that does not parse as the column's type (what PostgreSQL answers)."""
    return _db_error("22P02", f'invalid input syntax for type {type_name}: "{value}"')


def undefined_operator(left: str, operator: str, right: str = "unknown") -> DatabaseError:
    """42883: an operator the column type lacks, e.g. `->` on a text column (PostgreSQL's wording)."""
    return _db_error(
        "42883",
        f"operator does not exist: {left} {operator} {right}",
        None,
        "No operator matches the given name and argument types. You might need to add explicit type casts.",
    )


def undefined_type(name: str) -> DatabaseError:
    """42704: a cast to a type that does not exist."""
    return _db_error("42704", f'type "{name}" does not exist')


def no_conflict_constraint() -> DatabaseError:
    """42P10: `on_conflict` columns that are not a primary key or unique constraint."""
    return _db_error("42P10", "there is no unique or exclusion constraint matching the ON CONFLICT specification")


def invalid_regex(reason: str) -> DatabaseError:
    """2201B: a `match`/`imatch` pattern that does not compile."""
    return _db_error("2201B", f"invalid regular expression: {reason}")


def no_fts_index(table: str, column: str) -> BadRequest:
    """PGRST127: full-text search on SQLite needs an FTS5 table over the column."""
    return BadRequest(
        "PGRST127",
        "Feature not implemented",
        f"Full-text search on '{table}.{column}' needs an FTS5 index on SQLite, and there is none",
        f"Create one: CREATE VIRTUAL TABLE {table}_{column}_fts USING fts5({column}, content='{table}'), "
        f"then keep it in sync with triggers (or INSERT INTO {table}_{column}_fts({table}_{column}_fts) "
        "VALUES('rebuild'))",
    )


def nul_in_text() -> DatabaseError:
    """22P05: a JSON string with `\\u0000` written to a column (PostgreSQL text cannot hold NUL)."""
    return _db_error("22P05", "unsupported Unicode escape sequence", "\\u0000 cannot be converted to text.")


def out_of_range(type_name: str, value: str) -> DatabaseError:
    """22003: an integer filter value too large for the column's type."""
    return _db_error("22003", f'value "{value}" is out of range for type {type_name}')


def malformed_array(text: str) -> DatabaseError:
    """22P02: a `{a,b}` array literal that does not parse."""
    return _db_error("22P02", f'malformed array literal: "{text}"')


def tsquery_syntax(text: str) -> DatabaseError:
    """42601: a `fts` value that is not valid to_tsquery syntax."""
    return _db_error("42601", f'syntax error in tsquery: "{text}"')
