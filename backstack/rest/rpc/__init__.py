"""`/rest/v1/rpc/<fn>`: the call (`service`), which function a request means (`match`), its arguments
(`args`), and how it runs: compiled SQL (`sql`) or an `@rpc` Python function (`python`)."""
