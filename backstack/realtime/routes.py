"""`/realtime/v1`: the websocket at `/websocket` and the REST broadcast (contract/realtime.md 4, 4.8).

The socket is authenticated by its `apikey` (query parameter or header) before it is accepted: an
unknown key, an unknown `vsn` or a node at `max_connections` gets the upgrade refused (HTTP 403).
`POST /api/broadcast` (`{"messages": [{"topic", "event", "payload", "private"}]}`) and
`POST /api/broadcast/{topic}/events/{event}` send to a topic's sockets from a server, 202.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.websockets import WebSocket

from backstack.core import json
from backstack.core.errors import ApiError, BadRequest, Forbidden
from backstack.realtime.authorization import Authorization
from backstack.realtime.changes import ChangeDispatcher
from backstack.realtime.channel import PREFIX
from backstack.realtime.hub import Hub
from backstack.realtime.protocol import serializer_for
from backstack.realtime.rates import Rate, Rates
from backstack.realtime.session import Limits, Socket
from backstack.realtime.tokens import Tokens
from backstack.web.auth import AuthMiddleware, caller_of, credentials

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send

    from backstack.core.ports import ChangeFeed
    from backstack.realtime.authorization import Decisions, Probe
    from backstack.realtime.bus import Bus
    from backstack.realtime.changes import Visible
    from backstack.web.auth import Authenticator


class RealtimeApp:
    """The ASGI app mounted at /realtime/v1; one hub per app (this worker's sockets), started and
    closed with the app (`start`, `close`: the bus connects then). `probe`: how private channels are
    authorised for roles other than the service role (authorization.py; None refuses them). Row
    changes are delivered when both `changes` (the outbox reader) and `visible` (who may read which
    row) are given (changes/)."""

    def __init__(
        self,
        authenticator: Authenticator,
        limits: Limits,
        max_connections: int,
        bus: Bus | None = None,
        changes: ChangeFeed | None = None,
        probe: Probe | None = None,
        visible: Visible | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.authorization = Authorization(probe)
        self.tokens = Tokens(authenticator)
        self.limits = limits
        self.rates = Rates(Rate(limits.joins_per_second), Rate(limits.messages_per_second))
        self.max_connections = max_connections
        self.connections = 0
        self.hub = Hub(bus)  # bus: how the other workers and nodes are reached (bus/; memory when None)
        self.changes = ChangeDispatcher(changes, visible) if changes is not None and visible is not None else None
        routes = [
            Route("/api/broadcast", self._broadcast_many, methods=["POST"]),
            Route("/api/broadcast/{topic}/events/{event}", self._broadcast_one, methods=["POST"]),
        ]
        self.http = AuthMiddleware(Router(routes), authenticator)

    async def start(self) -> None:
        await self.hub.start()
        if self.changes is not None:
            await self.changes.start()

    async def close(self) -> None:
        if self.changes is not None:
            await self.changes.close()
        await self.hub.close()

    def health(self) -> dict[str, Any]:
        """This worker's realtime figures for /health and /metrics: sockets, rooms, joined channels, the bus."""
        rooms, channels = self.hub.counts()
        bus = type(self.hub.bus).__name__.removesuffix("Bus").lower()
        figures: dict[str, Any] = {"connections": self.connections, "rooms": rooms, "channels": channels, "bus": bus}
        if self.changes is not None:
            figures["change_subscribers"] = len(self.changes.subscriptions)
            figures["changes_delivered"] = self.changes.delivered
        return figures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(WebSocket(scope, receive, send))
        else:
            await self.http(scope, receive, send)

    async def _socket(self, websocket: WebSocket) -> None:
        scope = websocket.scope
        below = scope["path"].removeprefix(scope.get("root_path", "")).rstrip("/")
        serializer = serializer_for(websocket.query_params.get("vsn"))
        apikey, _ = credentials(scope)
        try:
            if below != "/websocket" or serializer is None or self.connections >= self.max_connections:
                raise Forbidden("realtime", "refused")
            key_caller = self.authenticator.authenticate(apikey, None)
        except ApiError:
            await websocket.close(1008)  # before accept: the server answers the upgrade with 403
            return
        self.connections += 1  # before `accept` yields: concurrent upgrades would all pass the check
        try:
            await websocket.accept()
            await Socket(
                websocket,
                serializer,
                self.hub,
                self.tokens,
                key_caller,
                apikey or "",
                self.limits,
                self.rates,
                self.authorization,
                self.changes,
            ).serve()
        finally:
            self.connections -= 1

    async def _broadcast_many(self, request: Request) -> Response:
        body = _json_object(await request.body())
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("realtime", "messages must be a list")
        checked = [_message(item) for item in messages]
        decisions: Decisions = {}  # a topic repeated in one request is asked once, not once per message
        for topic, _, _, private in checked:  # all before any is sent: a 403 never follows a partial delivery
            await self._check_write(request, topic, private, decisions)
        for topic, event, payload, private in checked:
            self._send(topic, event, payload, private)
        return Response(status_code=202)

    async def _broadcast_one(self, request: Request) -> Response:
        payload = _json_object(await request.body())
        private = request.query_params.get("private") == "true"
        topic = request.path_params["topic"].removeprefix(PREFIX)  # as /api/broadcast reads its topics
        if not topic:
            raise BadRequest("realtime", "the topic is empty")
        await self._check_write(request, topic, private)
        self._send(topic, request.path_params["event"], payload, private)
        return Response(status_code=202)

    async def _check_write(
        self, request: Request, topic: str, private: bool, decisions: Decisions | None = None
    ) -> None:
        """A private topic needs the insert policy's consent (the service role always has it)."""
        caller = caller_of(request.scope)
        if private and not await self.authorization.may(caller, topic, "broadcast", "write", decisions):
            raise Forbidden("realtime", f"You do not have permissions to write to this Channel topic: {topic}")

    def _send(self, topic: str, event: str, payload: dict[str, Any], private: bool) -> None:
        message = {"type": "broadcast", "event": event, "payload": payload}
        self.hub.broadcast(PREFIX + topic, message, private=private)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest("realtime", "The body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("realtime", "The body must be a JSON object")
    return value


def _message(item: Any) -> tuple[str, str, dict[str, Any], bool]:
    if not isinstance(item, dict):
        raise BadRequest("realtime", "each message must be an object")
    topic, event, payload = item.get("topic"), item.get("event"), item.get("payload", {})
    private = item.get("private", False)
    if isinstance(topic, str):
        topic = topic.removeprefix(PREFIX)  # `realtime:` alone names no channel, as a join of it is refused
    if not isinstance(topic, str) or not topic or not isinstance(event, str) or not event:
        raise BadRequest("realtime", "each message needs a topic and an event")
    if not isinstance(payload, dict) or not isinstance(private, bool):
        raise BadRequest("realtime", "payload must be an object and private a boolean")
    return topic, event, payload, private
