"""Realtime (`/realtime/v1`): Supabase's Phoenix-channel websocket, broadcast and presence on one node.

protocol.py (frames, vsn 1.0.0 and 2.0.0) < presence.py < hub.py (a node's channels by topic) <
channel.py (one join) < session.py (one socket) < routes.py (the websocket and REST broadcast).
Row changes (`postgres_changes`) and fan-out between nodes are still to come (issue 9).
"""

from backstack.realtime.routes import RealtimeApp
from backstack.realtime.session import Limits

__all__ = ["Limits", "RealtimeApp"]
