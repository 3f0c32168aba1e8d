-- wrk script of benches/soak.sh: asks /auth about the requests of the file $WRK_REQ in turn and
-- counts the answers that are not $WRK_EXPECT. The file holds variants separated by blank lines,
-- each a URL (sent as X-Original-URL) and header lines.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  variants = {}
  local current = nil
  for line in io.lines(os.getenv("WRK_REQ")) do
    if line == "" then
      current = nil
    elseif current == nil then
      current = { ["X-Original-URL"] = line, ["X-Original-Method"] = "GET" }
      table.insert(variants, current)
    else
      local name, value = line:match("^([^:]+): (.*)$")
      current[name] = value
    end
  end
  expect = tonumber(os.getenv("WRK_EXPECT"))
  wrong = 0
  seen = " "
  next_variant = 0
end

function request()
  next_variant = next_variant % #variants + 1
  return wrk.format("GET", nil, variants[next_variant])
end

function response(status, headers, body)
  if status ~= expect then
    wrong = wrong + 1
    if not string.find(seen, " " .. status .. " ", 1, true) then
      seen = seen .. " " .. status .. " "
    end
  end
end

function done(summary, latency, requests)
  local total, seen_all = 0, ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("wrong")
    seen_all = seen_all .. thread:get("seen")
  end
  io.write(string.format("wrong answers: %d\n", total + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  -- (summary.errors.status counts every answer of 400 and up, expected or not: not used.)
  if total > 0 then
    io.write("wrong statuses:" .. seen_all .. "\n")
  end
end
