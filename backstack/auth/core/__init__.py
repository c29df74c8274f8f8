"""What every auth layer shares: GoTrue's errors and their rendering, the `User` and `Session`
values, grants and access/refresh tokens, PKCE, password hashing, redirect checks and rate limits.
Nothing here touches the database or HTTP requests.
"""
