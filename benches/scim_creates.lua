-- wrk script for benches/scim_wrk.sh: SCIM user creates (and optionally the Okta-style lookup
-- before each create) with Entra-shaped bodies, each userName unique, until N users are done.
-- Lets the load generator (wrk, C) use a small share of the CPU, where the Node.js generator of
-- benches/scim_sync.mjs takes most of a core on this two-core machine.
--
--   wrk -t1 -c8 -d600s -s benches/scim_creates.lua URL/Users -- TOKEN USERS PREFIX LOOKUP(yes|no)
--
-- Prints one line `RESULT users=… seconds=… users_per_s=… created=… failed=… lookup_hits=…` at
-- the end; wrk's own latency distribution (--latency) covers every request (lookups and creates).
-- With LOOKUP=yes each user's lookup is sent before its create, but wrk hands requests to whichever
-- of its connections is free, so now and then the create is served first and the lookup finds the
-- user: `lookup_hits` counts those (1–5 per 10,000 on an idle machine, ~3 % on a busy one; the load
-- is the same: one GET and one POST per user).
local token, users, prefix, lookup
local next_user = 0
local pending_lookup = nil -- a user whose lookup was sent and whose create comes next
-- globals, so that done() can read them from each thread with thread:get
created, failed, lookup_hits, lookups = 0, 0, 0, 0
local threads = {}
-- wrk sleeps for the whole -d before it stops; the run ends at the N-th answer instead: the wall
-- time is taken here and wrk is sent SIGINT (it then prints its report as after -d).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } lanyard_timespec;
  int clock_gettime(int clk_id, lanyard_timespec *tp);
  int getpid(void);
  int kill(int pid, int sig);
]]
local function now()
  local ts = ffi.new("lanyard_timespec")
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
started, finished = nil, nil

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  users = tonumber(args[2] or "10000")
  prefix = args[3] or "wrk"
  lookup = (args[4] or "no") == "yes"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/scim+json"
end

local function body(i, user_name)
  return string.format(
    '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s",' ..
      '"name":{"givenName":"First%d","familyName":"Last%d"},' ..
      '"emails":[{"primary":true,"value":"%s","type":"work"}],' ..
      '"displayName":"First%d Last%d","locale":"en-US","externalId":"00u%d","groups":[],"active":true}',
    user_name, i, i, user_name, i, i, i)
end

local function name_of(i)
  return string.format("%s%d@acme.test", prefix, i)
end

function request()
  if not started then
    started = now()
  end
  if lookup then
    if pending_lookup then
      local i = pending_lookup
      pending_lookup = nil
      return wrk.format("POST", wrk.path, nil, body(i, name_of(i)))
    end
    local i = next_user
    next_user = next_user + 1
    pending_lookup = i
    local filter = string.format('userName%%20eq%%20%%22%s%%22', name_of(i):gsub("@", "%%40"))
    return wrk.format("GET", wrk.path .. "?filter=" .. filter .. "&startIndex=1&count=100")
  end
  local i = next_user
  next_user = next_user + 1
  return wrk.format("POST", wrk.path, nil, body(i, name_of(i)))
end

function response(status, headers, resp_body)
  if status == 201 then
    created = created + 1
  elseif status == 200 then
    lookups = lookups + 1
    if not string.find(resp_body, '"totalResults"%s*:%s*0[,}%s]') then
      lookup_hits = lookup_hits + 1
    end
  else
    failed = failed + 1
    if failed <= 3 then
      io.stderr:write(string.format("status %d: %s\n", status, resp_body))
    end
  end
  if created + failed == users then
    finished = now()
    ffi.C.kill(ffi.C.getpid(), 2) -- SIGINT
  end
end

function done(summary, latency, requests)
  local c, f, h, l, first, last = 0, 0, 0, 0, nil, nil
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    f = f + t:get("failed")
    h = h + t:get("lookup_hits")
    l = l + t:get("lookups")
    local s, e = t:get("started"), t:get("finished")
    if s and (not first or s < first) then first = s end
    if e and (not last or e > last) then last = e end
  end
  local seconds = (first and last) and (last - first) or summary.duration / 1e6
  io.write(string.format(
    "RESULT users=%d seconds=%.2f users_per_s=%.0f created=%d failed=%d lookups=%d lookup_hits=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    c + f, seconds, c / seconds, c, f, l, h,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
