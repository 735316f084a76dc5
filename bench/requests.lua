-- What wrk sends, and the one line it reports for the bench to parse.
--
-- BENCH_MODE=spend: POST /v1/budgets/{id}/spends on a random budget of the ids in the file
-- BENCH_BUDGETS (one a line), 1 to 500 pence of personal care, a fresh Idempotency-Key
-- each. BENCH_MODE=read: GET the URL wrk was given. Both send BENCH_TOKEN as the bearer
-- token and count every answer that is not BENCH_EXPECT (201 or 200) by status.
-- BENCH_SEED makes each run's keys differ from every other run's (and thread's).

local mode = os.getenv("BENCH_MODE")
local expect = tonumber(os.getenv("BENCH_EXPECT"))
local token = os.getenv("BENCH_TOKEN")
wrk.headers["Authorization"] = "Bearer " .. token

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

function init(args)
   unexpected = {}
   -- Seeds differ per run and per thread: two threads drawing the same keys would be replays.
   math.randomseed(tonumber(os.getenv("BENCH_SEED")) * 64 + thread_number)
   if mode == "spend" then
      budgets = {}
      for line in io.lines(os.getenv("BENCH_BUDGETS")) do
         budgets[#budgets + 1] = line
      end
      spend_headers = {
         ["Authorization"] = wrk.headers["Authorization"],
         ["Content-Type"] = "application/json",
      }
   end
end

local function fresh_key()
   -- 128 random bits in 16-bit draws (string.format's %x is only safe up to 2^31 in LuaJIT)
   local parts = {}
   for i = 1, 8 do
      parts[i] = string.format("%04x", math.random(0, 0xffff))
   end
   return table.concat(parts)
end

function request()
   if mode ~= "spend" then
      return wrk.request()
   end
   spend_headers["Idempotency-Key"] = fresh_key()
   local body = string.format(
      '{"amount": %d, "category": "personal_care", "description": "Support worker, two hours",'
         .. ' "occurred_on": "2026-06-01"}',
      math.random(1, 500)
   )
   local path = "/v1/budgets/" .. budgets[math.random(1, #budgets)] .. "/spends"
   return wrk.format("POST", path, spend_headers, body)
end

function response(status, headers, body)
   if status ~= expect then
      unexpected[status] = (unexpected[status] or 0) + 1
   end
end

function done(summary, latency, requests)
   local line = string.format(
      "bench-result requests=%d duration_us=%d p50_us=%d p99_us=%d"
         .. " connect_errors=%d read_errors=%d write_errors=%d timeouts=%d",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout
   )
   local statuses = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("unexpected")) do
         statuses[status] = (statuses[status] or 0) + count
      end
   end
   for status, count in pairs(statuses) do
      line = line .. string.format(" http_%d=%d", status, count)
   end
   io.write(line .. "\n")
end
