"""The auth service's rules, one module per flow (sign-up, password sign-in, refresh, the bearer,
anonymous, passwordless, recovery, email change, verify, account, admin users, admin links, MFA,
external providers).

Each flow is a small class built once by `AuthService` with exactly what it uses (the store's
`AuthDb`, the token issuer, the password hasher, the outbox, settings, the clock); none sees the
service or HTTP. Failures are `AuthError`s carrying GoTrue's codes. Rules follow GoTrue
(supabase/auth) unless a comment says why not.
"""
