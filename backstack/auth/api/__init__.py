"""The auth API's HTTP layer: the ASGI app (app.py), its route table (routes.py), request parsing
(http.py) and one endpoint module per area (session, email, admin, mfa, oauth, keys).

Endpoints parse a request into plain values or a small request dataclass, call a flow through the
`AuthService` and render the answer; they hold no rules and no SQL.
"""
