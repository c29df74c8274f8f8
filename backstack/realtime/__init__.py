"""Realtime (`/realtime/v1`): Supabase's Phoenix-channel websocket, broadcast and presence.

protocol.py (frames, vsn 1.0.0 and 2.0.0), presence.py, authorization.py (private channels), bus/
(how the workers and nodes hear each other: memory, unix sockets, Redis, PostgreSQL) < replicas.py
(the other nodes' presence) < hub.py (this worker's channels by topic, and the bus) < channel.py
(one join) < session.py (one socket) < routes.py (the websocket and REST broadcast). Row changes
(`postgres_changes`) are still to come.
"""

from backstack.realtime.routes import RealtimeApp
from backstack.realtime.session import Limits

__all__ = ["Limits", "RealtimeApp"]
