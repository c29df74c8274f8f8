-- wrk script: GET <FLOOR_PATH><id>, the id picked at random for each request from the file named by
-- FLOOR_IDS (one per line: the 1,000 hot ids). done() prints one JSON line for measure.py.
local prefix = os.getenv("FLOOR_PATH") or "/items?id="
local apikey = os.getenv("FLOOR_APIKEY")  -- set for backstack: apikey and bearer headers
local headers = (apikey or "") ~= "" and {["apikey"] = apikey, ["Authorization"] = "Bearer " .. apikey} or {}
local ids = {}

function init(args)
  for line in io.lines(os.getenv("FLOOR_IDS")) do table.insert(ids, line) end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)], headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('FLOORJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
