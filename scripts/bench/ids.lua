-- wrk script: GET /rest/v1/items_ids?select=*&id=eq.<id>, the ids read from the file named by env BENCH_IDS
-- (one per line). Every thread takes its own share of the ids and walks it from a random start, so within a
-- run no id is read twice (until a thread has read all of its share).
local apikey = os.getenv("BENCH_APIKEY")
local ids = {}
local counter = 0
local pos = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("BENCH_IDS")) do
    if i % threads == (id - 1) then table.insert(ids, line) end
    i = i + 1
  end
  math.randomseed(os.time() + id)
  pos = math.random(#ids)
end

function request()
  pos = pos % #ids + 1
  return wrk.format("GET", "/rest/v1/items_ids?select=*&id=eq." .. ids[pos],
    {["apikey"] = apikey, ["Authorization"] = "Bearer " .. apikey})
end
