"""`/rest/v1/rpc/<fn>`: call a database or `@rpc` Python function, answer as PostgREST does.

One request: find the function (`rpc.match`: overloads, PGRST202/203), read its arguments
(`rpc.args`: JSON body or query string), run it as the caller and send the result: a scalar as
bare JSON, a row as an object, a set as an array shaped by `select`/filters/`order`/`limit`/
`offset`/`Range` like a read (`rpc.sql`), void as 204. `Prefer: count=exact`, `return=minimal`,
`params=single-object` and the singular `Accept: application/vnd.pgrst.object+json` are honoured.

Where it runs (`rpc.calls`, one class per engine): as PostgREST, every GET/HEAD (whatever the
function's volatility) and POST to a stable/immutable function in a read-only transaction, so only a
function that writes fails there (25006); POST to a volatile one in a read-write transaction; both
with the caller's role and claims (RLS native). SQLite: a body that writes runs on the writer in one
transaction (`SyncWriter.run_write`), or fails with 25006 on GET before anything runs; others on a
`query_only` reader; unless the caller is service_role or the function is SECURITY DEFINER, every
body statement goes through the role's `RowPolicies.protect` first.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.core.errors import BadRequest
from backstack.core.rpc import RpcLoadError
from backstack.db.errors import database_error
from backstack.db.schema.model import Argument, Function
from backstack.rest import errors
from backstack.rest.request.parse import parse_read
from backstack.rest.result import Result, applied_headers, content_range, read_page, root_page, text_body
from backstack.rest.rpc.args import (
    body_arguments,
    python_values,
    query_values,
    split_query,
)
from backstack.rest.rpc.calls import DatabaseCalls, calls_for
from backstack.rest.rpc.match import Lookup, describe, resolve, single_body_argument
from backstack.rest.rpc.python import call_python
from backstack.rest.sql.read import ReadOptions
from backstack.rest.sql.statement_cache import cached, shape_of

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.ports import PolicyProvider, RowPolicies
    from backstack.core.rpc import RpcFunction
    from backstack.db.engine import Engine
    from backstack.db.schema.model import Schema
    from backstack.rest.request.query import Accept, Preferences, Range, ReadQuery
    from backstack.rest.rpc.sql import CallPlan
    from backstack.rest.sql.read_port import BodyMode
    from backstack.rest.sql.statement_cache import StatementCache

_READ_METHODS = frozenset({"GET", "HEAD"})
NO_CONTENT = Result(None, 204, None)


@dataclass(frozen=True, slots=True)
class RpcRequest:
    """One call as the route read it: verb, function name, query pairs, body and headers."""

    method: str
    name: str
    pairs: list[tuple[str, str]]
    body: bytes
    prefer: Preferences
    accept: Accept
    range_: Range | None = None


@dataclass(frozen=True, slots=True)
class _Call:
    """A resolved call: the function, its argument values (JSON values) and the result's query."""

    function: Function
    values: dict[str, Any]
    query: ReadQuery
    read_pairs: tuple[tuple[str, str], ...]
    whole_body: bool
    read_only: bool


@dataclass
class RpcService:
    """Calls functions for one app: the engine, its `@rpc` Python functions, row policies, limits."""

    engine: Engine
    python: dict[str, RpcFunction] = field(default_factory=dict)
    policies: PolicyProvider | None = None
    cache: StatementCache | None = None
    max_rows: int | None = None
    max_terms: int = 100
    max_depth: int = 10
    calls: DatabaseCalls = field(init=False)

    def __post_init__(self) -> None:
        self.calls = calls_for(self.engine)

    async def call(self, caller: Caller, request: RpcRequest) -> Result:
        """Run the function `request` names and return the response the route sends."""
        if request.method not in ("GET", "HEAD", "POST"):
            raise errors.invalid_rpc_method(request.method)
        if request.prefer.handling == "strict" and request.prefer.invalid:
            raise errors.invalid_preferences(request.prefer.invalid)
        schema = await self.engine.schema()
        call = self._resolve(schema, request)
        require_execute(call.function, caller.role)
        policies = self._policies(schema, caller)
        if call.function.language == "python":
            return await self._python(caller, call, request, policies)
        return await self._sql(schema, caller, call, request, policies)

    async def allow(self, name: str) -> str:
        """The `Allow` header for OPTIONS on `/rpc/<name>`: GET and HEAD only for non-volatile functions."""
        candidates = self.candidates(await self.engine.schema(), name)
        if not candidates:
            raise errors.function_not_found("public", name, [])
        return "OPTIONS,GET,HEAD,POST" if all(f.read_only for f in candidates) else "OPTIONS,POST"

    async def check_names(self, event: Any = None) -> None:
        """Refuse an `@rpc` function named like a database function (an `on_startup` handler)."""
        schema = await self.engine.schema()
        for name, function in self.python.items():
            for other in schema.functions.get(name, ()):
                raise RpcLoadError(
                    f"{function.source}: @rpc function {name!r} has the name of the database "
                    f"function {describe(other)}; rename one of them"
                )
        if event is not None:
            await event.next()

    # ------------------------------------------------------------ finding the function

    def candidates(self, schema: Schema, name: str) -> tuple[Function, ...]:
        """The SQL overloads of `name` plus the `@rpc` function of that name, if any."""
        found = schema.functions.get(name, ())
        python = self.python.get(name)
        return found if python is None else (*found, python_entry(python))

    def _resolve(self, schema: Schema, request: RpcRequest) -> _Call:
        candidates = self.candidates(schema, request.name)
        post = request.method == "POST"
        single = request.prefer.params == "single-object"
        if post:
            body = body_arguments(request.body)
            keys = frozenset(body) if isinstance(body, dict) else frozenset()
            read_pairs = [(k, v) for k, v in request.pairs if k != "apikey"]
            given: dict[str, list[str]] = {}
        else:
            names = {a.name for f in candidates for a in f.arguments if a.name}
            given, read_pairs = split_query(request.pairs, names)
            keys = frozenset(given)
        lookup = Lookup(request.name, keys, post, single)
        function = resolve(candidates, lookup, sorted({*schema.functions, *self.python}))
        read_only = not post or function.read_only
        whole = post and single_body_argument(function, lookup)
        if whole:
            values = {function.arguments[0].name: body}
        elif post:
            if not isinstance(body, dict):
                raise errors.invalid_body("Empty or invalid json")
            values = body
        else:
            values = query_values(function, given)
        query = parse_read(read_pairs, max_terms=self.max_terms, max_depth=self.max_depth)
        return _Call(function, values, query, tuple(read_pairs), whole, read_only)

    def _policies(self, schema: Schema, caller: Caller) -> RowPolicies | None:
        return None if self.policies is None else self.policies.for_role(schema, caller.role)

    # ------------------------------------------------------------ SQL functions

    def _read_options(self, function: Function, query: ReadQuery, request: RpcRequest) -> ReadOptions:
        """How the function's result is read: one row as an object, a set paged like a table."""
        offset, limit = root_page(query, request.range_, self.max_rows)
        one_row = bool(function.result_columns) and not function.returns_set
        accept = request.accept
        media: BodyMode = (
            "object" if accept.media == "object" or one_row else ("csv" if accept.media == "csv" else "json")
        )
        return ReadOptions(
            media=media,
            strip_nulls=accept.strip_nulls,
            count_total=request.prefer.count is not None,
            offset=offset,
            limit=limit,
            max_rows=self.max_rows,
            schema_name=function.schema,
        )

    async def _sql(
        self, schema: Schema, caller: Caller, call: _Call, request: RpcRequest, policies: RowPolicies | None
    ) -> Result:
        function = call.function
        accept = request.accept
        options = self._read_options(function, call.query, request)
        offset = options.offset
        given = tuple(sorted(call.values))
        protect = not function.security_definer
        shape = shape_of(call.query, self.engine.dialect)
        key: Hashable = (
            "rpc",
            self.engine.dialect.name,
            function.schema,
            function.name,
            tuple(a.type for a in function.arguments),
            given,
            call.whole_body,
            shape.key,
            options,
            caller.role,
            protect,
        )
        plan = cached(
            self.cache,
            schema,
            key,
            lambda: self.calls.compile(
                schema,
                function,
                given,
                whole_body=call.whole_body,
                query=shape.query,
                options=options,
                policies=policies,
                protect=protect,
            ),
        )
        plan = replace(plan, main=plan.main.with_values(shape.values))
        values = self.calls.bind_values(function, call.values, call.whole_body)
        row = await self.calls.run(caller, plan, values, call.read_only, accept)
        return self._respond(function, plan, row, offset, request)

    def _respond(
        self, function: Function, plan: CallPlan, row: tuple[Any, ...] | None, offset: int, request: RpcRequest
    ) -> Result:
        prefer = request.prefer
        headers = applied_headers(prefer)
        if plan.shape == "void" or (prefer.return_ == "minimal" and request.method == "POST"):
            return Result(None, 204, None, headers)
        if plan.shape in ("rows", "object") and not plan.raw_row:
            body, page, total, status = read_page(row, offset)
            text = text_body(body) or b"null"
            return Result(
                text, status if plan.shape == "rows" else 200, content_range(offset, offset + page - 1, total), headers
            )
        return Result(self.calls.value(plan, row, function), 200, content_range(0, 0, None), headers)

    # ------------------------------------------------------------ Python functions

    async def _python(self, caller: Caller, call: _Call, request: RpcRequest, policies: RowPolicies | None) -> Result:
        if call.read_pairs:
            raise BadRequest(
                "PGRST127",
                "Feature not implemented",
                "select, filters, order and limit do not apply to the results of Python functions",
                "Filter in the function, or send no query parameters besides its arguments",
            )
        spec = self.python[call.function.name]
        values = python_values(call.function, call.values)
        result = await call_python(self.engine, caller, spec, values, policies=policies, read_only=call.read_only)
        if (spec.returns == "void" and result is None) or request.prefer.return_ == "minimal":
            return Result(None, 204, None)
        if request.accept.media == "object" and isinstance(result, list):
            if len(result) != 1:
                raise errors.singular_row_count(len(result))
            result = result[0]
        return Result(json.dumps(result), 200, content_range(0, 0, None))


def require_execute(function: Function, role: str) -> None:
    """42501 unless `role` holds EXECUTE on `function` (SQLite: `Function.grantees`; PostgreSQL checks
    its own ACL). As on PostgreSQL, service_role is not exempt: it holds EXECUTE by Supabase's default."""
    grantees = function.grantees
    if grantees is None or "public" in grantees or role in grantees:
        return
    raise database_error("42501", f"permission denied for function {function.name}", anonymous=role == "anon")


def python_entry(function: RpcFunction) -> Function:
    """The schema's view of an `@rpc` function, for matching and error messages."""
    arguments = tuple(Argument(p.name, p.type, p.has_default) for p in function.parameters)
    return Function(
        schema="public",
        name=function.name,
        arguments=arguments,
        returns=function.returns,
        returns_set=function.returns_set,
        volatility=function.volatility,
        language="python",
    )
