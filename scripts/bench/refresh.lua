-- wrk script: token refresh (POST /auth/v1/token?grant_type=refresh_token) on many sessions.
-- Refresh tokens rotate on every use, so each response's new token goes back into the pool and a
-- later request spends it; TOKENS (one per line, from the file named by env BENCH_TOKENS) seed the pool.
-- Every thread takes its own share of the tokens.
local apikey = os.getenv("BENCH_APIKEY")
local pool = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if i % threads == (id - 1) then table.insert(pool, line) end
    i = i + 1
  end
end

function request()
  local token = table.remove(pool, 1)
  if token == nil then
    return wrk.format("GET", "/auth/v1/health", {["apikey"] = apikey})
  end
  return wrk.format("POST", "/auth/v1/token?grant_type=refresh_token",
    {["apikey"] = apikey, ["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token ~= nil then table.insert(pool, token) end
end
