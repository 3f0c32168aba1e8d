-- wrk script of benches/compare.sh: counts the answers whose status is not $WRK_EXPECT (default
-- 200) and the socket errors, and prints "wrong answers: N" (and the statuses seen) at the end,
-- so a run that measured an error path is flagged. Headers come from wrk's -H.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expect = tonumber(os.getenv("WRK_EXPECT") or "200")
  wrong = 0
  seen = " "
end

function response(status, headers, body)
  if status ~= expect then
    wrong = wrong + 1
    if not string.find(seen, " " .. status .. " ", 1, true) then
      seen = seen .. status .. " "
    end
  end
end

function done(summary, latency, requests)
  local total, seen_all = 0, ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("wrong")
    seen_all = seen_all .. thread:get("seen")
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("wrong answers: %d\n", total + errors))
  io.write(string.format("socket errors: %d\n", errors))
  if total > 0 then
    io.write("wrong statuses:" .. seen_all .. "\n")
  end
end
