-- wrk script: GET /v0.1/servers/<random name>/versions/<VERSION>, names com.bench<i%50>/server-<i>
-- (as bench/gen_servers.py makes them). Fixed seeds: the same request sequence on every run.
-- Usage: wrk ... -s detail_random.lua URL -- NAMES VERSION
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local names, version = 20000, "latest"
function init(args)
  names = tonumber(args[1] or names)
  version = args[2] or version
  math.randomseed(1000 + (thread_id or 0))
end

function request()
  local i = math.random(0, names - 1)
  return wrk.format("GET", string.format("/v0.1/servers/com.bench%d%%2Fserver-%d/versions/%s", i % 50, i, version))
end
