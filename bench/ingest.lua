-- wrk script for bench/ingest.py: every request POSTs a distinct TradersPost body to a
-- random webhook, so every 200 is a new accepted signal (never a duplicate).
-- Arguments: <paths file: one /trading/webhook/<uuid>/<password> per line> <run seed>.
local tickers = {"AAPL", "AMD", "TSLA", "SPY", "QQQ", "MSFT", "NVDA", "SQ"}
local threads = {}
local paths, seed, counter = {}, 0, 0

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  seed = tonumber(args[2])
  counter = thread_index
  math.randomseed(seed * 1000 + thread_index)
end

function request()
  counter = counter + 64
  local body = string.format(
    '{"ticker":"%s","action":"buy","sentiment":"bullish","price":%d.%07d,"quantity":1}',
    tickers[math.floor(counter / 64) % #tickers + 1], 100 + seed, counter)
  return wrk.format("POST", paths[math.random(#paths)],
    {["Content-Type"] = "text/plain"}, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
