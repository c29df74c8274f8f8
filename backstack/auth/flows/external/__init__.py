"""Sign-in with external providers (OAuth 2.0 / OpenID Connect): the flows (oauth.py), the providers'
HTTP APIs (providers.py), and how a provider account becomes or joins a user (identities.py)."""
