#!lua name=redjob
--
-- SPDX-License-Identifier: BSD-2-Clause
--
-- The redjob function library: every state change of a job is one call of
-- one of these functions, so it is atomic, and every decision uses the
-- server's clock. docs/protocol.md is the contract; keep the two in step.
--
-- Every function takes exactly one key, the queue's base key
-- "NAMESPACE:{QUEUE}", and derives the queue's other keys from it by
-- appending a suffix (":due", ":j:42", ...). They all carry the same hash
-- tag, so they live in one slot and the library works unchanged on Redis
-- Cluster, and another application can enqueue with one FCALL and one key.
--
-- Rules every function keeps, because a script error does not roll back
-- and replicas must replay the same effects:
--   * TIME is read once, at the top, and passed down.
--   * All input is validated and all state read before the first write: a
--     script error does not roll back earlier writes.
--   * Numbers go back as strings made by string.format('%d'); a reply table
--     never holds nil.
--   * Every loop is bounded.

local LIB_VERSION = 13    -- this code; bump on any change
local SCHEMA = 1          -- keys and fields; bump on any incompatible change
local MAX_PAYLOAD = 524288
local MAX_ERROR = 4096
local CLAIM_MAX = 1000
local REAP_MAX = 100
local RELEASE_SCAN = 1000
local TRIM_MAX = 100
local DEAD_MAX = 10000
local DEAD_TTL = 180 * 86400 * 1000
local OWNER_LEN = 16      -- a worker's owner id: the head of its tokens
local FIN_TTL = 86400 * 1000 -- how long a cancelled or expired job is kept
local FIN_MAX = 100000    -- finished jobs kept per queue, at most
local MAX_RESULT = 64 * 1024 * 1024 -- a job's result (CONFIG_RESULT_MAX_LIMIT)
local MAX_RESULT_TTL = 365 * 86400 * 1000
local SEEN_CLEAN = 10     -- expired B:seen entries looked at per beat
-- Longer than a listpack entry (zset-max-listpack-value and
-- hash-max-listpack-value, 64 by default): see claim().
local WIDE = '----------------------------------------' ..
  '----------------------------------------'

-- Our errors are raised as {err = "REDJOB_CODE message"} and turned into
-- a plain error reply by entry() below, so the first word is the code and
-- Redis appends no script location to it.
local function fail(code, msg)
  error({err = 'REDJOB_' .. code .. ' ' .. msg})
end

local function entry(fn)
  return function(keys, args)
    local ok, r = pcall(fn, keys, args)
    if ok then
      return r
    end
    -- Redis 7.0 hands pcall the message of a raised {err=...} table as
    -- a string; newer versions hand over the table.
    if type(r) == 'table' and r.err then
      r = r.err
    end
    if type(r) == 'string' and string.sub(r, 1, 7) == 'REDJOB_' then
      return redis.error_reply(r)
    end
    error(r, 0)
  end
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n)
  return string.format('%d', n)
end

-- Parse the base key and check the schema recorded for the queue. Returns
-- the queue name and the meta hash fields asked for after "schema".
local function open(keys, ...)
  if #keys ~= 1 then
    fail('BADKEY', 'expected exactly one key, NAMESPACE:{QUEUE}')
  end
  local base = keys[1]
  -- QUEUE~K is shard K of a sharded queue (docs/protocol.md).
  local q = string.match(base, '^[^{}]+:{([%w_.%-]+~?%d*)}$')
  local name, shard = string.match(q or '', '^([^~]+)~([1-9]%d?%d?)$')
  if not q or (string.find(q, '~', 1, true) and (not shard or
      tonumber(shard) > 255)) or #(name or q) > 128 then
    fail('BADKEY', 'key "' .. base .. '" is not NAMESPACE:{QUEUE} ' ..
      '(queue names are 1-128 of A-Z a-z 0-9 _ . -, and ~K for shard K)')
  end
  local m = redis.call('HMGET', base .. ':meta', 'schema', ...)
  if m[1] and tonumber(m[1]) ~= SCHEMA then
    fail('SCHEMA', 'queue ' .. q .. ' has schema ' .. m[1] ..
      ', this library speaks schema ' .. SCHEMA)
  end
  return base, q, m
end

local function int_arg(v, name, lo, hi)
  local n = tonumber(v)
  if not n or n ~= math.floor(n) or n < lo or n > hi then
    fail('BADARG', name .. ' must be an integer from ' .. fmt(lo) ..
      ' to ' .. fmt(hi) .. ', not "' .. tostring(v) .. '"')
  end
  return n
end

-- A job id is "QUEUE:N"; the sets hold N alone.
local function seq_of(q, id)
  local name, s = string.match(id, '^([%w_.%-]+~?%d*):(%d+)$')
  if name ~= q then
    fail('BADID', 'job id "' .. id .. '" does not belong to queue ' .. q)
  end
  return s
end

-- Wake one sleeping worker if a job is due at or before the earliest due
-- time the workers may be sleeping towards. One member, so repeated wakes
-- collapse and BZPOPMIN wakes one waiter, which chains to the next.
local function wake_if_earlier(base, due, now)
  if due > now then
    local first = redis.call('ZRANGE', base .. ':due', 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= due then
      return
    end
  end
  redis.call('ZADD', base .. ':wake', 0, 'w')
end

-- Drop the jobs of sorted set B:SUFFIX, and their hashes: those scored at
-- or before CUTOFF, and the lowest scored while there are more than MAX,
-- at most TRIM_MAX of each per call.
local function trim(base, suffix, cutoff, max)
  local set = base .. suffix
  local old = redis.call('ZRANGE', set, '-inf', cutoff, 'BYSCORE', 'LIMIT',
    0, TRIM_MAX)
  local excess = redis.call('ZCARD', set) - #old - max
  if excess > 0 then
    if excess > TRIM_MAX then excess = TRIM_MAX end
    old = redis.call('ZRANGE', set, 0, #old + excess - 1)
  end
  for _, n in ipairs(old) do
    redis.call('DEL', base .. ':j:' .. n)
  end
  if #old > 0 then
    redis.call('HDEL', base .. ':jobs', unpack(old))
    redis.call('ZREM', set, unpack(old))
  end
end

-- Drop dead jobs past the retention age or count, oldest first.
local function trim_dead(base, now)
  local meta = redis.call('HMGET', base .. ':meta', 'dead_max', 'dead_ttl')
  trim(base, ':dead', now - (tonumber(meta[2]) or DEAD_TTL),
    tonumber(meta[1]) or DEAD_MAX)
end

-- The claim tokens of a queue's running jobs live in one hash, B:tok,
-- N -> TOKEN SOH STARTED, then NUL UNIQUE for a job with a unique key
-- (STARTED: the claim's time, ms): claims, acks, renewals and requeues
-- then read and write all of their jobs' tokens with one command instead
-- of one per job. Split a value into token, unique key and start time.
-- (Values written by library version 5 and older have no SOH STARTED.)
local function split_token(v)
  local unique, started
  local z = string.find(v, '\0', 1, true)
  if z then
    v, unique = string.sub(v, 1, z - 1), string.sub(v, z + 1)
  end
  z = string.find(v, '\1', 1, true)
  if z then
    v, started = string.sub(v, 1, z - 1), string.sub(v, z + 1)
  end
  return v, unique, started
end

-- A job enqueued with no options (the usual job: a type, a payload and
-- its enqueue time) is kept packed in the queue's hash B:jobs, field N,
-- value TYPE NUL CREATED NUL PAYLOAD, instead of in a hash of its own:
-- a hash of its own costs a key, and a payload over 64 bytes turns it
-- from a listpack into a hashtable, about 560 bytes per waiting job
-- against 280 (docs/performance.md, "Redis memory per waiting job").
-- Its other fields go to its hash B:j:N. While a job is in due, run or
-- dead, it is packed or has a hash, never both: the first write of a
-- field (fail, requeue, wake, a stall) moves it to B:j:N (job_hash), so
-- that the claim reads one or the other. A job that finishes
-- (keep_finished: done, cancelled, expired) is never due again: it
-- keeps its packed fields and gets a hash for the others, and its
-- readers merge the two (job_get). Jobs written by library version 10
-- and older are all B:j:N.

-- A job enqueued to be due later (delay, at) is packed with its due time
-- after its enqueue time: TYPE NUL CREATED SPACE DUE NUL PAYLOAD (library
-- version 13; written before, it has no DUE). A packed job is due again
-- only as a hash (job_hash), so the DUE of a packed job is its score in
-- B:due, and the claim need not read the scores (redjob_claim's "brief").

-- Split a packed job. A value that is not TYPE NUL CREATED NUL PAYLOAD
-- (written by hand) gives no fields: the claim buries the job as
-- malformed.
local function unpack_job(v)
  local a = string.find(v, '\0', 1, true)
  local b = a and string.find(v, '\0', a + 1, true)
  if not b then
    return {}
  end
  local created, due = string.sub(v, a + 1, b - 1), nil
  local sp = string.find(created, ' ', 1, true)
  if sp then
    created, due = string.sub(created, 1, sp - 1), string.sub(created, sp + 1)
  end
  return {type = string.sub(v, 1, a - 1), created = created, due = due,
    payload = string.sub(v, b + 1)}
end

-- The hash of job N, with its packed fields moved into it if it has
-- any: call before a write to B:j:N of a job that is to be due again.
local function job_hash(base, n)
  local j = base .. ':j:' .. n
  local v = redis.call('HGET', base .. ':jobs', n)
  if v then
    local f = unpack_job(v)
    if f.type then
      redis.call('HSET', j, 'type', f.type, 'payload', f.payload,
        'created', f.created)
    end
    redis.call('HDEL', base .. ':jobs', n)
  end
  return j
end

-- Fields of job N, as HMGET of its hash would return them, its packed
-- fields included.
local function job_get(base, n, ...)
  local f = redis.call('HMGET', base .. ':j:' .. n, ...)
  local v = redis.call('HGET', base .. ':jobs', n)
  if v then
    local p = unpack_job(v)
    for i, name in ipairs({...}) do
      f[i] = f[i] or p[name] or false
    end
  end
  return f
end

-- Whether job N exists, packed or as a hash. (HGET, not HEXISTS: the
-- ACL rules of docs/protocol.md, which operators copied, name no HEXISTS.)
local function job_exists(base, n)
  return redis.call('HGET', base .. ':jobs', n) ~= false or
    redis.call('EXISTS', base .. ':j:' .. n) == 1
end

-- Release a lifetime unique key if it still names this job.
local function release_unique(base, n, unique)
  if unique then
    local u = base .. ':u:' .. unique
    if redis.call('GET', u) == n then
      redis.call('DEL', u)
    end
  end
end

-- Tell whoever waits for job N (redjob wait, docs/protocol.md) that it
-- has finished: OUTCOME is done, dead, cancelled or expired. A message
-- to a channel nobody listens to costs Redis next to nothing.
local function announce(base, n, outcome)
  redis.call('PUBLISH', base .. ':fin:' .. n, outcome)
end

-- Move a job to the dead set with a reason. The job is not in due or run.
local function bury(base, n, now, reason, unique)
  redis.call('ZADD', base .. ':dead', now, n)
  redis.call('HSET', base .. ':j:' .. n, 'died', fmt(now), 'last_error',
    reason)
  redis.call('HDEL', base .. ':tok', n)
  release_unique(base, n, unique)
  trim_dead(base, now)
  announce(base, n, 'dead')
end

-- Drop finished jobs whose time is up (B:fin's score is the time a
-- finished job leaves), and the soonest to leave while there are more
-- than FIN_MAX.
local function trim_fin(base, now)
  trim(base, ':fin', now, FIN_MAX)
end

-- Keep a job that has finished, OUTCOME done, cancelled or expired, for
-- TTL ms: it leaves due, run and dead (the caller has taken it out of
-- them and released its unique key), its hash stays with "finished" and
-- "outcome" (and "last_error", with a REASON; and the FIELD VALUE pairs
-- of the list SET, if given), and waiters are told.
-- keep_finished() but for the trim of B:fin, which a caller finishing
-- many jobs does once.
local function keep_finished_untrimmed(base, n, now, outcome, ttl, reason,
    set)
  local h = set or {}
  h[#h + 1] = 'finished'; h[#h + 1] = fmt(now)
  h[#h + 1] = 'outcome'; h[#h + 1] = outcome
  if reason then
    h[#h + 1] = 'last_error'; h[#h + 1] = reason
  end
  local j = base .. ':j:' .. n
  redis.call('ZADD', base .. ':fin', now + ttl, n)
  redis.call('HDEL', j, 'reserved', 'held', 'woken')
  redis.call('HSET', j, unpack(h))
  announce(base, n, outcome)
end

local function keep_finished(base, n, now, outcome, ttl, reason, set)
  keep_finished_untrimmed(base, n, now, outcome, ttl, reason, set)
  trim_fin(base, now)
end

-- Jobs whose holder is gone (their lease expired, or their worker died):
-- a stall, not an attempt. Each goes back to due now, or to dead once it
-- has stalled more than max_stalls times, so a job that kills every
-- worker that runs it stops doing so. ns are in run; they leave it.
local function stall(base, ns, now, max_stalls, why)
  local back = false
  for _, n in ipairs(ns) do
    local j = job_hash(base, n)
    local s = redis.call('HINCRBY', j, 'stalls', 1)
    if s > max_stalls then
      bury(base, n, now, 'stalled: ' .. fmt(s) .. ' times; last: ' .. why,
        redis.call('HGET', j, 'unique'))
    else
      redis.call('ZADD', base .. ':due', now, n)
      redis.call('HSET', j, 'due', now)
      back = true
    end
  end
  redis.call('ZREM', base .. ':run', unpack(ns))
  redis.call('HDEL', base .. ':tok', unpack(ns))
  redis.call('HINCRBY', base .. ':stats', 'stalled', #ns)
  return back
end

-- Check a job type; seen holds the types this call has checked already,
-- so that a bulk call of one type matches the pattern once, not per job.
local function check_type(t, seen)
  if t and seen[t] then
    return
  end
  if not t or not string.match(t, '^[%w_.:%-]+$') or #t > 128 then
    fail('BADARG', 'job type must be 1-128 of A-Z a-z 0-9 _ . : -')
  end
  seen[t] = true
end

local function payload_fits(p, max)
  if #p > max then
    fail('TOOBIG', 'payload of ' .. fmt(#p) ..
      ' bytes is over the limit of ' .. fmt(max) .. ' bytes')
  end
end

-- Check a job with no options, TYPE PAYLOAD at args[i], as parse_job
-- would, without making it a table.
local function check_plain(args, i, seen)
  check_type(args[i], seen)
  local p = args[i + 1]
  if not p then
    fail('BADARG', 'missing payload (use "" for none)')
  end
  payload_fits(p, MAX_PAYLOAD)
end

-- Parse one job: TYPE PAYLOAD at args[i], and NOPTS OPTION VALUE pairs
-- from args[o]. Returns the job as a table, with no write made. Options:
-- delay MS | at EPOCH_MS, key K, max_attempts N, unique U, unique_ttl MS,
-- max_payload BYTES, expire_in MS (not started MS after now: never run).
local function parse_job(args, i, o, nopts, now, seen)
  local j = {type = args[i], payload = args[i + 1], due = now}
  check_type(j.type, seen)
  if not j.payload then
    fail('BADARG', 'missing payload (use "" for none)')
  end
  local max_payload = MAX_PAYLOAD
  for k = o, o + 2 * nopts - 1, 2 do
    local o, v = args[k], args[k + 1]
    if v == nil then
      fail('BADARG', 'options come in OPTION VALUE pairs')
    elseif o == 'delay' then
      j.due = now + int_arg(v, 'delay', 0, 2 ^ 48)
    elseif o == 'at' then
      j.due = int_arg(v, 'at', 0, 2 ^ 50)
    elseif o == 'key' then
      if #v > 512 then fail('BADARG', 'key is longer than 512 bytes') end
      j.key = v
    elseif o == 'max_attempts' then
      j.max_attempts = int_arg(v, 'max_attempts', 1, 1000000)
    elseif o == 'unique' then
      if #v == 0 or #v > 512 then
        fail('BADARG', 'unique must be 1-512 bytes')
      end
      j.unique = v
    elseif o == 'unique_ttl' then
      j.unique_ttl = int_arg(v, 'unique_ttl', 1, 2 ^ 48)
    elseif o == 'max_payload' then
      max_payload = int_arg(v, 'max_payload', 0, 512 * 1024 * 1024)
    elseif o == 'expire_in' then
      j.expires = now + int_arg(v, 'expire_in', 1, 2 ^ 48)
    else
      fail('BADARG', 'unknown option "' .. tostring(o) .. '"')
    end
  end
  if j.expires and j.expires <= j.due then
    fail('BADARG', 'the job would expire (at ' .. fmt(j.expires) ..
      ') before it is due (at ' .. fmt(j.due) .. ')')
  end
  payload_fits(j.payload, max_payload)
  return j
end

-- The first step of every write of new jobs: the queue's schema, if it
-- has none yet.
local function write_schema(base, meta)
  if not meta[1] then
    redis.call('HSET', base .. ':meta', 'schema', SCHEMA)
  end
end

-- A bulk enqueue's time goes where something is done per job (the rest
-- is once per call of up to 1000), so numbers are made strings once per
-- call: Redis formats a Lua number handed to redis.call with
-- sprintf("%.17g"). A job's id is its number in decimal: the thousands
-- formatted once per thousand numbers, the rest taken from this table
-- of "000" to "999", a quarter of the cost of a string.format per id
-- (docs/performance.md, "Bulk enqueue at the floor").
local DIGITS3 = {}
for k = 0, 999 do
  -- (Run at FUNCTION LOAD, where the global string is not reachable:
  -- concatenation makes the number a string.)
  DIGITS3[k] = (k < 10 and '00' or k < 100 and '0' or '') .. k
end

-- Write COUNT checked jobs with no options, their TYPE PAYLOAD at
-- args[first], args[first + step], ...: all packed, all due now, so that
-- nothing is made per job but its id, its packed value and its reply.
-- The same writes, in the same order, as write_jobs() would make.
local function write_plain(base, q, meta, args, first, step, count, now)
  write_schema(base, meta)
  local n = redis.call('INCRBY', base .. ':seq', count) - count
  local t = fmt(now)
  local mid, pre = '\0' .. t .. '\0', q .. ':'
  local packed, zadd, reply = {}, {}, {}
  local hi, his = -1, nil
  local i = first
  for k = 1, 2 * count, 2 do
    n = n + 1
    local id
    if n < 1000 then
      id = fmt(n)
    else
      local lo = n % 1000
      if (n - lo) / 1000 ~= hi then
        hi = (n - lo) / 1000
        his = fmt(hi)
      end
      id = his .. DIGITS3[lo]
    end
    packed[k] = id
    packed[k + 1] = args[i] .. mid .. args[i + 1]
    zadd[k] = t
    zadd[k + 1] = id
    reply[k] = pre .. id
    reply[k + 1] = 1
    i = i + step
  end
  redis.call('HSET', base .. ':jobs', unpack(packed))
  wake_if_earlier(base, now, now)
  redis.call('ZADD', base .. ':due', unpack(zadd))
  redis.call('HINCRBY', base .. ':stats', 'enqueued', count)
  return reply
end

-- Write parsed jobs: each gets the next number of the queue's counter, a
-- hash, and its place in :due; one ZADD for all of them. A unique key
-- already taken (also by an earlier job of this same call) returns the
-- job it names. Returns the flat reply {id, created, ...}.
local function write_jobs(base, q, meta, jobs, now)
  write_schema(base, meta)
  local nnew = 0
  for _, j in ipairs(jobs) do
    if j.unique then
      j.ukey = base .. ':u:' .. j.unique
      j.old = redis.call('GET', j.ukey)
    end
    if not j.old then nnew = nnew + 1 end
  end
  local last = nnew > 0 and redis.call('INCRBY', base .. ':seq', nnew) or 0
  local n = last - nnew
  local t = fmt(now)
  local mid = '\0' .. t .. '\0'
  local reply, zadd, packed, earliest = {}, {}, {}, nil
  for _, j in ipairs(jobs) do
    if j.ukey and not j.old then
      -- A job earlier in this call may have taken the key.
      j.old = redis.call('GET', j.ukey)
      if j.old then nnew = nnew - 1 end
    end
    if j.old then
      reply[#reply + 1] = q .. ':' .. j.old
      reply[#reply + 1] = 0
    else
      n = n + 1
      local id = fmt(n)
      if j.tick or j.key or j.max_attempts or j.expires or j.unique then
        -- No 'due' field: the score in :due is the due time, and show
        -- reports it from there until a transition writes the field.
        local h = {'type', j.type, 'payload', j.payload, 'created', t}
        if j.tick then
          h[#h + 1] = 'tick'; h[#h + 1] = j.tick
          if j.misfire then
            h[#h + 1] = 'misfire'; h[#h + 1] = j.misfire
          end
        end
        if j.key then
          h[#h + 1] = 'key'; h[#h + 1] = j.key
        end
        if j.max_attempts then
          h[#h + 1] = 'max_attempts'; h[#h + 1] = fmt(j.max_attempts)
        end
        if j.expires then
          h[#h + 1] = 'expires'; h[#h + 1] = fmt(j.expires)
        end
        if j.unique then
          h[#h + 1] = 'unique'; h[#h + 1] = j.unique
          if j.unique_ttl then
            redis.call('SET', j.ukey, id, 'PX', fmt(j.unique_ttl))
          else
            redis.call('SET', j.ukey, id)
          end
        end
        redis.call('HSET', base .. ':j:' .. id, unpack(h))
      elseif j.due == now then
        packed[#packed + 1] = id
        packed[#packed + 1] = j.type .. mid .. j.payload
      else
        packed[#packed + 1] = id
        packed[#packed + 1] = j.type .. '\0' .. t .. ' ' .. fmt(j.due) ..
          '\0' .. j.payload
      end
      zadd[#zadd + 1] = j.due == now and t or fmt(j.due)
      zadd[#zadd + 1] = id
      if not earliest or j.due < earliest then earliest = j.due end
      reply[#reply + 1] = q .. ':' .. id
      reply[#reply + 1] = 1
    end
  end
  if #packed > 0 then
    redis.call('HSET', base .. ':jobs', unpack(packed))
  end
  if earliest then
    wake_if_earlier(base, earliest, now)
    redis.call('ZADD', base .. ':due', unpack(zadd))
  end
  if nnew > 0 then
    redis.call('HINCRBY', base .. ':stats', 'enqueued', nnew)
  end
  -- Numbers a unique key skipped are never used: the counter may run
  -- ahead of the jobs, which only makes ids sparse.
  return reply
end

---------------------------------------------------------------------------
-- redjob_enqueue NAMESPACE:{QUEUE} TYPE PAYLOAD [OPTION VALUE]...
-- Returns {id, 1} for a new job, {id, 0} when a unique key named one.
local function enqueue(keys, args)
  local now = now_ms()
  local base, q, meta = open(keys)
  if #args % 2 ~= 0 then
    fail('BADARG', 'options come in OPTION VALUE pairs')
  end
  if #args == 2 then
    check_plain(args, 1, {})
    return write_plain(base, q, meta, args, 1, 0, 1, now)
  end
  local j = parse_job(args, 1, 3, (#args - 2) / 2, now, {})
  return write_jobs(base, q, meta, {j}, now)
end

---------------------------------------------------------------------------
-- redjob_enqueue_bulk NAMESPACE:{QUEUE} COUNT
--   [TYPE PAYLOAD NOPTS [OPTION VALUE]...]...
-- COUNT jobs in one call (at most 1000), each as for redjob_enqueue with
-- the number of its option pairs before them. All are checked before any
-- is written: one bad job refuses the whole call, and nothing is written.
-- Returns {id1, created1, id2, created2, ...}.
local function enqueue_bulk(keys, args)
  local now = now_ms()
  local base, q, meta = open(keys)
  local count = int_arg(args[1], 'count', 1, 1000)
  -- jobs[k]: job k parsed, or where it starts in args if it has no
  -- options: such a job is checked there and made a table only if
  -- another job of the call has options.
  local jobs, i, seen, plain = {}, 2, {}, true
  for k = 1, count do
    local a = args[i + 2]
    local nopts = a == '0' and 0 or int_arg(a, 'nopts of job ' .. k, 0, 16)
    if nopts == 0 then
      check_plain(args, i, seen)
      jobs[k] = i
    else
      jobs[k] = parse_job(args, i, i + 3, nopts, now, seen)
      plain = false
    end
    i = i + 3 + 2 * nopts
  end
  if i ~= #args + 1 then
    fail('BADARG', 'expected exactly ' .. fmt(count) .. ' jobs')
  end
  if plain then
    return write_plain(base, q, meta, args, 2, 3, count, now)
  end
  for k = 1, count do
    i = jobs[k]
    if type(i) == 'number' then
      jobs[k] = {type = args[i], payload = args[i + 1], due = now}
    end
  end
  return write_jobs(base, q, meta, jobs, now)
end

-- When a job expires (docs/protocol.md, expiry): at its own "expires", or
-- at its enqueue plus its type's expiry from the claim's arguments, if
-- either is set; nil when it never does.
local function expiry(expires, created, ttl)
  local at = tonumber(expires)
  if ttl and created then
    local t = tonumber(created) + ttl
    if not at or t < at then at = t end
  end
  return at
end

---------------------------------------------------------------------------
-- Guards in the claim and the ack (docs/guards.md, "Guards in the claim").
-- A claim may take the guards of the jobs it leases, as the worker would
-- with one guard call per job, and an ack may give back what its jobs
-- hold. The guard keys (NS:lock:{...}, NS:limit:{...}) and the queues of
-- the waiters a release wakes are not the key this function declares:
-- that works on a single Redis (and behind Sentinel), where every key is
-- in the one server, and Redis checks undeclared keys only on a cluster,
-- where they live in other slots. So redjobd sends guards this way only
-- when it is not connected to a cluster; on a cluster it keeps one guard
-- call per job, each on its own key's slot.
--
-- guards.lua, which the build appends to this file, fills G with its
-- functions; redjob_wake (below) adds itself.
local G = {}
local GUARD_RESERVE_MAX = '3600000' -- GUARD_RESERVE_MAX_MS, src/guard.h
local GUARD_HOPS = 8                -- WAITLIST_HOPS, src/waitlist.c
local GUARD_ESC = {['%'] = '%25', ['{'] = '%7B', ['}'] = '%7D'}

-- The text of an error a guard function raised: a {err = ...} table, or
-- its message alone (Redis 7.0 hands pcall a string).
local function err_text(r)
  if type(r) == 'table' then
    r = r.err
  end
  return tostring(r)
end

-- A key template split once per claim into its literal text and its
-- placeholders ({name}), for render().
local function template(tpl)
  local parts, pos = {}, 1
  while true do
    local s, e, name = string.find(tpl, '{(%a+)}', pos)
    if not s then
      break
    end
    if s > pos then
      parts[#parts + 1] = string.sub(tpl, pos, s - 1)
    end
    parts[#parts + 1] = {name, string.sub(tpl, s, e)}
    pos = e + 1
  end
  if pos <= #tpl then
    parts[#parts + 1] = string.sub(tpl, pos)
  end
  if pos == 1 then
    parts.const = tpl   -- no placeholder: the text itself
  end
  return parts
end

-- A key template rendered for a job, as src/template.c does: each
-- placeholder replaced by its value, whose '%', '{' and '}' are escaped,
-- so that no value can move the key to another hash tag.
local function render(parts, vars)
  local out = {}
  for i, p in ipairs(parts) do
    if type(p) == 'table' then
      p = vars[p[1]] or p[2]
      if string.find(p, '[%%{}]') then
        p = string.gsub(p, '[%%{}]', GUARD_ESC)
      end
    end
    out[i] = p
  end
  return table.concat(out)
end

-- Parse a claim's "guard TYPE SPEC": the type's limiters in order, then
-- its lock, as src/worker.c writes them; items are separated by byte 30,
-- their fields by byte 31:
--   L NAME KIND TEMPLATE P...   a limiter; TEMPLATE is empty without key:
--                               window LIMIT PERIOD_MS; gcra BURST COUNT
--                               PERIOD_MS; funnel CAPACITY COUNT
--                               PERIOD_MS; concurrency LIMIT LEASE_MS
--   K TEMPLATE TTL_MS           the lock
-- The values are checked by the guard functions when they are called.
-- Parsed specs are kept, by their text, for the claims that follow: a
-- worker sends the same ones with every claim, and the Lua state lives
-- until the library is loaded again. At most GUARD_SPECS are kept.
local GUARD_FIELDS = {window = 6, gcra = 7, funnel = 7, concurrency = 6}
local GUARD_SPECS = 1000
local guard_specs, guard_nspecs = {}, 0
local function guard_spec(t, s)
  local spec = guard_specs[s]
  if spec then
    return spec
  end
  spec = {lims = {}}
  for item in string.gmatch(s, '[^\30]+') do
    local f = {}
    for x in string.gmatch(item .. '\31', '([^\31]*)\31') do
      f[#f + 1] = x
    end
    if f[1] == 'L' and #f == GUARD_FIELDS[f[3]] and #f[2] > 0 then
      f[4] = template(f[4])
      spec.lims[#spec.lims + 1] = f
    elseif f[1] == 'K' and #f == 3 and not spec.lock then
      f[2] = template(f[2])
      spec.lock = f
    else
      fail('BADARG', 'guard ' .. t .. ': malformed item "' .. item .. '"')
    end
  end
  if guard_nspecs >= GUARD_SPECS then
    guard_specs, guard_nspecs = {}, 0
  end
  guard_specs[s] = spec
  guard_nspecs = guard_nspecs + 1
  return spec
end

-- Make due the job a release handed over (waiter, "QUEUE:N"); if it is
-- gone, ask next_fn for the next waiter, up to GUARD_HOPS jobs, as
-- src/waitlist.c does over two calls. Errors stop it: the waiters come
-- back at their fallback due time.
local function guard_wake(ns, waiter, key, next_fn, next_args)
  for _ = 1, GUARD_HOPS do
    local wq = string.match(waiter, '^([%w_.%-]+~?%d*):%d+$')
    if not wq then
      return
    end
    local ok, r = pcall(G.wake, {ns .. ':{' .. wq .. '}'}, {waiter})
    if not ok or r ~= 0 then
      return
    end
    ok, waiter = pcall(next_fn, {key}, next_args)
    if not ok then
      return
    end
  end
end

local function guard_lock_release(ns, key, token)
  local ok, w = pcall(G.lock_release_fast, key, token)
  if not ok or not w then
    local ok, r = pcall(G.lock_release, {key}, {token, 'next'})
    w = ok and r[2] or ''
  end
  guard_wake(ns, w, key, G.lock_next, {})
end

-- now: the caller's clock (ms), or nil where it has not read it.
local function guard_conc_release(ns, key, member, limit, now)
  local ok, w = false, nil
  if now then
    ok, w = pcall(G.conc_release_fast, key, member, now)
  end
  if not ok or not w then
    local ok, r = pcall(G.limit_conc_release, {key}, {member, 'next'})
    w = ok and r[2] or ''
  end
  guard_wake(ns, w, key, G.limit_conc_next, {limit})
end

-- Give back the locks and concurrency slots of the jobs of an ack (rel:
-- {'lock', KEY, TOKEN} and {'conc', KEY, MEMBER, LIMIT}), as
-- redjob_lock_release and redjob_limit_conc_release with "next" would
-- one by one, in a few commands for them all: the locks read with one
-- MGET and deleted with one DEL, their wait lists looked at with one
-- EXISTS; each limiter's members removed with one ZREM, and as many
-- waiters taken as live slots were freed (counted with a ZCOUNT before
-- and after). Then the waiters handed over are woken. A key of another
-- type is left alone. Where MGET or ZCOUNT is refused (an ACL written for
-- an older library), each is given back as by the function of its own.
local function guard_release_all(ns, rel, now)
  local locks, keys, conc, order = {}, {}, {}, {}
  for _, r in ipairs(rel) do
    if r[1] == 'lock' then
      locks[#locks + 1] = r
      keys[#keys + 1] = r[2]
    else
      local g = conc[r[2]]
      if not g then
        g = {limit = r[4], ms = {}}
        conc[r[2]] = g
        order[#order + 1] = r[2]
      end
      g.ms[#g.ms + 1] = r[3]
    end
  end
  local held = #locks > 0 and redis.pcall('MGET', unpack(keys))
  if held and held.err then
    for _, r in ipairs(locks) do
      guard_lock_release(ns, r[2], r[3])
    end
  elseif held then
    local dels, free = {}, {}
    for i, r in ipairs(locks) do
      if held[i] == r[3] then
        dels[#dels + 1] = r[2]
        free[#free + 1] = r[2]
      elseif not held[i] then
        -- Expired, or not a string (MGET cannot tell): as one release.
        guard_lock_release(ns, r[2], r[3])
      end
    end
    if #dels > 0 then
      redis.call('DEL', unpack(dels))
      local waits = {}
      for i, k in ipairs(free) do
        waits[i] = k .. ':wait'
      end
      if redis.call('EXISTS', unpack(waits)) > 0 then
        for _, k in ipairs(free) do
          local w = redis.pcall('ZPOPMIN', k .. ':wait')
          if not w.err and w[1] then
            guard_wake(ns, w[1], k, G.lock_next, {})
          end
        end
      end
    end
  end
  -- The live slots given back, counted as the holders whose lease has
  -- not ended before and after their removal: no score is read (Redis
  -- formats each with sprintf of a double).
  local live_min = '(' .. fmt(now)
  for _, k in ipairs(order) do
    local g = conc[k]
    local before = redis.pcall('ZCOUNT', k, live_min, '+inf')
    if type(before) == 'table' and
        string.find(before.err, 'WRONGTYPE', 1, true) ~= 1 then
      for _, m in ipairs(g.ms) do
        guard_conc_release(ns, k, m, g.limit, now)
      end
    elseif type(before) ~= 'table' then
      redis.call('ZREM', k, unpack(g.ms))
      local live = before - redis.call('ZCOUNT', k, live_min, '+inf')
      if live > 0 then
        local w = redis.pcall('ZPOPMIN', k .. ':wait', live)
        for i = 1, w.err and 0 or #w, 2 do
          guard_wake(ns, w[i], k, G.limit_conc_next, {g.limit})
        end
      end
    end
  end
end

-- Give back what the limiters in held ({spec item, key}) granted to a
-- job that does not run, as src/hold.c's hold_release() does: in the
-- claim's cache (guards.lua, cache_undo) what it took there, else with
-- the function, the key written back first.
local function guard_undo(c, ns, held, member)
  for _, h in ipairs(held) do
    local l, key = h[1], h[2]
    if not G.cache_undo(c, key, l, member) then
      G.cache_flush(c, key)
      if l[3] == 'concurrency' then
        guard_conc_release(ns, key, member, l[5], c.now)
      elseif l[3] == 'window' then
        pcall(G.limit_undo, {key}, {'window', member})
      elseif l[3] == 'gcra' then
        pcall(G.limit_undo, {key}, {'gcra', l[6], l[7], '1'})
      else
        pcall(G.limit_undo, {key}, {'funnel', l[5], l[6], l[7], '1'})
      end
    end
  end
end

-- A key template rendered for a job of queue q (j: as guard_take's), as
-- render() does, without a table of its values.
local function guard_render(parts, q, j)
  local out = ''
  for i = 1, #parts do
    local p = parts[i]
    if type(p) == 'table' then
      local name = p[1]
      p = name == 'key' and (j[6] or '') or name == 'type' and j[1][2] or
        name == 'queue' and q or name == 'id' and j[1][1] or p[2]
      if string.find(p, '[%%{}]') then
        p = string.gsub(p, '[%%{}]', GUARD_ESC)
      end
    end
    out = out .. p
  end
  return out
end

-- The key of a limiter item for a job: built once per namespace when its
-- template has no placeholder, as most have.
local function guard_limit_key(ns, q, l, j)
  if not l[4].const then
    return ns .. ':limit:{' .. l[2] .. ':' .. guard_render(l[4], q, j) ..
      '}'
  end
  if l.ns ~= ns then
    l.ns, l.key = ns, ns .. ':limit:{' .. l[2] .. ':' .. l[4].const .. '}'
  end
  return l.key
end

local GUARD_GRANTED = {'granted', ''}

-- Take the guards of one job of queue q, as src/hold.c does with one
-- call each: its limiters in order (a GCRA, funnel or window limiter
-- reserves its slot when it refuses; the one named by a reservation
-- still valid is not asked), then its lock, waiting in the wait list of
-- a concurrency limiter or of the lock that refuses it. What was
-- granted before a refusal or an error is given back. j: {reply row,
-- spec, N, reserved, held, key} from the claim. c: the claim's cache
-- of limiter states (guards.lua). Returns the job's answer:
-- {'granted', FENCE or ''}, {'throttled', I, MS}, {'reserved', I, MS},
-- {'never', I}, {'conflict', PTTL}, or {'error', I, MESSAGE}; I is the
-- limiter's place from 1, 0 the lock.
local function guard_take(c, ns, q, j, token)
  local spec, id, waited = j[2], j[1][1], j[5]
  local lims, lock = spec.lims, spec.lock
  local resv, held, member
  if j[4] then
    -- A reservation admits the job only if claimed by its end.
    local u, name = string.match(j[4], '^(%d+) (.+)$')
    resv = u and tonumber(u) >= c.now and name or nil
  end
  for i = 1, #lims do
    local l = lims[i]
    local kind = l[3]
    if l[2] ~= resv or kind == 'concurrency' then
      local key = l.ns == ns and l.key or guard_limit_key(ns, q, l, j)
      -- The common cases first, from the claim's cache (guards.lua); a
      -- command refused (an ACL) fails the job's guards, not the claim.
      local p = l.p
      if p == nil then
        p = G.cache_params(l, GUARD_RESERVE_MAX)
      end
      local ok, r = true, nil
      if kind == 'window' or kind == 'concurrency' then
        member = member or id .. ':' .. token
      end
      if not p then
        -- odd values: the function refuses them
      elseif kind == 'gcra' then
        ok, r = pcall(G.cache_gcra, c, key, p)
      elseif kind == 'funnel' then
        ok, r = pcall(G.cache_funnel, c, key, p)
      elseif kind == 'window' then
        ok, r = pcall(G.cache_window, c, key, p, member)
      else
        ok, r = pcall(G.cache_conc, c, key, p, member, waited and id)
      end
      if ok and r then
        -- decided
      else
        member = member or id .. ':' .. token
        G.cache_flush(c, key, true)
        if kind == 'concurrency' then
          ok, r = pcall(G.limit_conc_acquire, {key},
            {l[5], l[6], member, id, j[3]})
        elseif kind == 'window' then
          ok, r = pcall(G.limit_reserve, {key},
            {'window', l[5], l[6], member, '1', GUARD_RESERVE_MAX})
        else
          ok, r = pcall(G.limit_reserve, {key},
            {kind, l[5], l[6], l[7], '1', GUARD_RESERVE_MAX})
        end
      end
      if not ok or r[1] ~= 0 then
        if held then
          guard_undo(c, ns, held, member or id .. ':' .. token)
        end
        if not ok then
          return {'error', fmt(i), err_text(r)}
        elseif r[1] == 2 then
          return {'reserved', fmt(i), fmt(r[4])}
        elseif r[4] < 0 then
          return {'never', fmt(i)}
        end
        return {'throttled', fmt(i), fmt(r[4])}
      end
      if i < #lims or lock then
        -- What a later refusal gives back.
        held = held or {}
        held[#held + 1] = {l, key}
      end
    end
  end
  if not lock then
    return GUARD_GRANTED
  end
  local key = ns .. ':lock:{' .. (lock[2].const or
    guard_render(lock[2], q, j)) .. '}'
  local ltok = token .. ' ' .. id
  -- A command refused (an ACL) fails the job's guards, not the claim.
  local ok, r = pcall(G.lock_acquire_fast, key, ltok, lock[3],
    waited and id, c.now_us, c.now_us_s)
  if not ok or not r then
    ok, r = pcall(G.lock_acquire, {key}, {ltok, lock[3], id, j[3]})
  end
  if not ok or r[1] == 0 then
    if held then
      guard_undo(c, ns, held, member or id .. ':' .. token)
    end
    if not ok then
      return {'error', '0', err_text(r)}
    end
    return {'conflict', fmt(r[2])}
  end
  return {'granted', r[2]}
end

-- Take the guards of the jobs of a claim of queue q, in their order
-- (jobs: as guard_take's j, then the job's brief row if it has one),
-- into each job's reply row: the limiters' states read by the first job
-- under each and written back after the last (guards.lua, "For the
-- claim"). now, now_us: the claim's clock.
local function guard_take_all(ns, q, jobs, token, now, now_us)
  local c = G.cache_new(now, now_us)
  for _, j in ipairs(jobs) do
    local answer = guard_take(c, ns, q, j, token)
    j[1][12] = answer
    if j[7] then
      -- A brief row: {N, PACKED, ANSWER} (redjob_claim).
      j[7][3] = answer
    end
  end
  G.cache_flush_all(c)
end

---------------------------------------------------------------------------
-- redjob_claim NAMESPACE:{QUEUE} COUNT LEASE_MS MAX_STALLS TOKEN WORKER
--   [expire TYPE MS]... [guard TYPE SPEC]...
-- First returns to the queue (or buries) up to 100 jobs whose lease has
-- expired: a stall, not an attempt. Then, unless the queue is paused,
-- leases up to COUNT due jobs to TOKEN, oldest due first. A due job that
-- has expired (its "expires", or its enqueue plus the MS given for its
-- TYPE) is not leased but kept as expired (keep_finished), counted under
-- expired, and named in the reply as "ID expired: ...".
-- Returns {now, next_wake, job...}; next_wake is the earliest due time or
-- lease expiry in ms (-1 if none), each job is
-- {id, type, payload, key, attempts, max_attempts, stalls, due, reserved,
-- created, tick} (reserved: the job's limiter reservation, "UNTIL_MS
-- NAME", or ''; created: its enqueue time, or ''; tick: a periodic job's
-- tick, redjob_tick, or ''), then, for a job whose TYPE has a "guard",
-- the answer of its guards, taken by this claim (guard_take above), or
-- for a job that could not be run and went to dead, the string
-- "ID REASON". TOKEN begins with the worker's owner id (redjob_release).
local function claim(keys, args)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local base, q, meta = open(keys, 'paused')
  local count = int_arg(args[1], 'count', 0, CLAIM_MAX)
  local lease = int_arg(args[2], 'lease_ms', 1, 2 ^ 40)
  local max_stalls = int_arg(args[3], 'max_stalls', 0, 1000000)
  -- args[5], the worker's name, is accepted for compatibility and unused.
  local token = args[4]
  if not token or #token < 8 or #token > 128 or
      string.find(token, '%c') then
    fail('BADARG', 'token must be 8-128 bytes, no control characters')
  end
  local ttls, specs, brief = nil, nil, false
  local i = 6
  while i <= #args do
    if args[i] == 'brief' then
      brief = true
      i = i + 1
    elseif args[i] ~= 'expire' and args[i] ~= 'guard' then
      fail('BADARG', 'unknown claim option "' .. args[i] .. '"')
    elseif i + 2 > #args or #args > 6 + 3 * 1000 then
      fail('BADARG', 'after WORKER come "brief", and at most 1000 ' ..
        '"expire TYPE MS" and "guard TYPE SPEC"')
    elseif args[i] == 'expire' then
      ttls = ttls or {}
      ttls[args[i + 1]] = int_arg(args[i + 2], 'expire', 1, 2 ^ 48)
      i = i + 3
    else
      specs = specs or {}
      specs[args[i + 1]] = guard_spec(args[i + 1], args[i + 2])
      i = i + 3
    end
  end
  local ns = string.sub(base, 1, #base - #q - 3)
  local tok = token .. '\1' .. fmt(now)
  -- The lease's end as a string, made once: Lua would format a number
  -- argument of redis.call for each job, with sprintf of a double.
  local until_s = fmt(now + lease)
  local due_key, run_key = base .. ':due', base .. ':run'

  -- Recover expired leases, if the earliest one has expired.
  local first_run = redis.call('ZRANGE', run_key, 0, 0, 'WITHSCORES')
  if first_run[2] and tonumber(first_run[2]) <= now then
    local expired = redis.call('ZRANGE', run_key, '-inf', now, 'BYSCORE',
      'LIMIT', 0, REAP_MAX)
    stall(base, expired, now, max_stalls,
      'the lease expired (a worker died or hung while running it)')
    first_run = redis.call('ZRANGE', run_key, 0, 0, 'WITHSCORES')
  end
  local next_wake = first_run[2] and tonumber(first_run[2]) or -1

  local reply = {fmt(now), '-1'}
  if not meta[2] then
    -- Up to count due jobs, earliest first, and the packed ones among
    -- them, with one command each.
    local due = redis.call('ZRANGE', due_key, '-inf', reply[1], 'BYSCORE',
      'LIMIT', 0, count)
    local lease_args, tok_args = {}, {}
    local packed = #due > 0 and
      redis.call('HMGET', base .. ':jobs', unpack(due)) or {}
    -- The usual job, packed, with no guard to take and no expiry to
    -- check, goes back as {N, PACKED}, as it lies in B:jobs (the caller
    -- asked for "brief" rows): no field is cut out or copied here, which
    -- is most of a claim's cost per job, and its due time is in PACKED
    -- (unpack_job), so no score is read and formatted for it.
    -- A packed job whose type has guards to take (and no expiry) goes
    -- back as {N, PACKED, ANSWER}, ANSWER its guards' (guard_take).
    local short, types, scores = {}, {}, nil
    for k = 1, #due do
      local f = packed[k]
      local a = f and brief and string.find(f, '\0', 1, true)
      local b = a and string.find(f, '\0', a + 1, true)
      local t = b and (specs or ttls) and string.sub(f, 1, a - 1)
      if not b or (t and ttls and ttls[t]) then
        short[k] = false
      elseif t and specs and specs[t] then
        short[k], types[k] = 'guarded', t
      else
        short[k] = true
      end
      if not short[k] and not scores then
        -- The others' rows carry their due time: the same jobs, in the
        -- same order, as nothing has been written yet.
        scores = redis.call('ZRANGE', due_key, '-inf', reply[1],
          'BYSCORE', 'LIMIT', 0, count, 'WITHSCORES')
      end
    end
    local nl, guarded = 0, {}
    for k, n in ipairs(due) do
      local f = packed[k]
      if short[k] then
        tok_args[nl + 1] = n
        tok_args[nl + 2] = tok
        lease_args[nl + 1] = until_s
        lease_args[nl + 2] = n
        nl = nl + 2
        local row = {n, f}
        if short[k] == 'guarded' then
          -- Never held back, with no key: no reservation, no wait.
          guarded[#guarded + 1] = {{q .. ':' .. n, types[k]},
            specs[types[k]], n, false, false, nil, row}
        end
        reply[#reply + 1] = row
      else
        local j = base .. ':j:' .. n
        if f then
          -- Packed: a job never held back, with no key and no options.
          f = unpack_job(f)
          f = {f.type, f.payload, false, false, false, false, false, false,
            f.created, false, false}
        elseif specs then
          -- With guards to take, also whether it was held back before.
          f = redis.call('HMGET', j, 'type', 'payload', 'key', 'attempts',
            'max_attempts', 'stalls', 'unique', 'reserved', 'created',
            'expires', 'tick', 'held')
        else
          f = redis.call('HMGET', j, 'type', 'payload', 'key', 'attempts',
            'max_attempts', 'stalls', 'unique', 'reserved', 'created',
            'expires', 'tick')
        end
        local exp = (f[10] or ttls) and
          expiry(f[10], f[9], ttls and f[1] and ttls[f[1]])
        if f[1] and f[2] and exp and exp <= now then
          -- Never run late: kept as expired, for redjob why and waiters.
          local why = 'not started by ' .. fmt(exp) .. ' (enqueued at ' ..
            (f[9] or '?') .. ', ' .. fmt(now - exp) .. ' ms late)'
          release_unique(base, n, f[7])
          keep_finished(base, n, now, 'expired', FIN_TTL, why)
          redis.call('HINCRBY', base .. ':stats', 'expired', 1)
          reply[#reply + 1] = q .. ':' .. n .. ' expired: type=' .. f[1] ..
            ', ' .. why
        elseif f[1] and f[2] then
          tok_args[nl + 1] = n
          tok_args[nl + 2] = f[7] and (tok .. '\0' .. f[7]) or tok
          lease_args[nl + 1] = until_s
          lease_args[nl + 2] = n
          nl = nl + 2
          local row = {q .. ':' .. n, f[1], f[2], f[3] or '',
            f[4] or '0', f[5] or '0', f[6] or '0', scores[2 * k],
            f[8] or '', f[9] or '', f[11] or ''}
          local spec = specs and specs[f[1]]
          if spec then
            guarded[#guarded + 1] = {row, spec, n, f[8], f[12], f[3]}
          end
          reply[#reply + 1] = row
        else
          -- Not a job we can run (its hash was deleted or lacks a type or
          -- a payload): to dead with the reason, and named in the reply,
          -- so it is logged and counted instead of vanishing.
          local why = redis.call('EXISTS', j) == 0 and
            'malformed: the job hash is missing' or
            ('malformed: the job hash has no ' ..
              (f[1] and 'payload' or 'type'))
          bury(base, n, now, why, f[7])
          redis.call('HINCRBY', base .. ':stats', 'malformed', 1)
          reply[#reply + 1] = q .. ':' .. n .. ' ' .. why
        end
      end
    end
    if #guarded > 0 then
      guard_take_all(ns, q, guarded, token, now, now_us)
    end
    -- Every one of them leaves due: leased, expired or buried.
    if #due > 0 then
      redis.call('ZREM', due_key, unpack(due))
    end
    if #lease_args > 0 then
      -- A lease that ends before every other one of the queue: wake a
      -- sleeping worker, whose claim then learns when it ends. Idle
      -- workers learn lease ends only from claim replies, and one of them
      -- must look again when this lease ends if its holder dies silently.
      -- (next_wake is still the earliest lease end before this claim.)
      if next_wake < 0 or now + lease < next_wake then
        redis.call('ZADD', base .. ':wake', 0, 'w')
        next_wake = now + lease
      end
      if not first_run[1] then
        -- run and tok are about to be made: made by an entry too long
        -- for a listpack, removed at once, they keep the encoding of a
        -- big set and hash (Redis does not shrink it back while the key
        -- lives). A listpack is walked end to end by every write, and
        -- these two get a write per job from every claim, ack and
        -- renewal while holding ~100 entries: that walk was a third of
        -- the Redis CPU of a claimed and acked job (docs/performance.md).
        redis.call('ZADD', run_key, 0, WIDE)
        redis.call('HSET', base .. ':tok', WIDE, '')
        redis.call('ZADD', run_key, unpack(lease_args))
        redis.call('HSET', base .. ':tok', unpack(tok_args))
        redis.call('ZREM', run_key, WIDE)
        redis.call('HDEL', base .. ':tok', WIDE)
      else
        redis.call('ZADD', run_key, unpack(lease_args))
        redis.call('HSET', base .. ':tok', unpack(tok_args))
      end
    end
    -- The first job left says when the next is due, and whether more
    -- are than we took.
    local after = redis.call('ZRANGE', due_key, 0, 0, 'WITHSCORES')
    if after[2] then
      local d = tonumber(after[2])
      -- More due work than we took: wake the next sleeping worker.
      if d <= now then
        redis.call('ZADD', base .. ':wake', 0, 'w')
      end
      if next_wake < 0 or d < next_wake then
        next_wake = d
      end
    end
  end
  reply[2] = fmt(next_wake)
  return reply
end

---------------------------------------------------------------------------
-- redjob_release NAMESPACE:{QUEUE} OWNER MAX_STALLS [FROM]
-- A worker died (its supervisor reaped it): the jobs it held go back to
-- due now, without waiting for their leases to expire and without
-- spending an attempt. Each counts as a stall, as a lease expiry would, so
-- a job that kills every worker that runs it ends dead after MAX_STALLS.
-- A worker's claim tokens begin with its OWNER id. Looks at up to
-- RELEASE_SCAN jobs of run from rank FROM (0 if absent), so a long run
-- set costs several short calls. Returns {released, next}: next is the
-- FROM of the next call, or -1 when run has been looked at to its end.
local function release(keys, args)
  local now = now_ms()
  local base = open(keys)
  local owner = args[1]
  if not owner or #owner < 8 or #owner > 64 then
    fail('BADARG', 'owner must be 8-64 bytes')
  end
  local max_stalls = int_arg(args[2], 'max_stalls', 0, 1000000)
  local from = int_arg(args[3] or '0', 'from', 0, 2 ^ 32)
  local ids = redis.call('ZRANGE', base .. ':run', from,
    from + RELEASE_SCAN - 1)
  if #ids == 0 then
    return {'0', '-1'}
  end
  local toks = redis.call('HMGET', base .. ':tok', unpack(ids))
  local gone = {}
  for k, n in ipairs(ids) do
    if toks[k] and string.sub(toks[k], 1, #owner) == owner then
      gone[#gone + 1] = n
    end
  end
  if #gone > 0 and stall(base, gone, now, max_stalls,
      'its worker died while running it') then
    redis.call('ZADD', base .. ':wake', 0, 'w')
  end
  local next = #ids < RELEASE_SCAN and -1 or from + #ids - #gone
  return {fmt(#gone), fmt(next)}
end

-- Check (id, token) pairs from args[first]. Returns the list of sequence
-- numbers whose token matches (false for the others), and the list of
-- their unique keys (false for none). A job named twice counts once: its
-- second pair is refused, so an ack cannot count a job twice. At most
-- CLAIM_MAX pairs, checked here before any write: the callers unpack()
-- the list, and Lua's unpack fails past about 8000 values, after the
-- writes that precede it.
local function check_tokens(base, q, args, first)
  local out, uniques, seen, ns = {}, {}, {}, {}
  if (#args - first + 1) % 2 ~= 0 or #args < first + 1 then
    fail('BADARG', 'expected ID TOKEN pairs')
  end
  if (#args - first + 1) / 2 > CLAIM_MAX then
    fail('BADARG', 'at most ' .. fmt(CLAIM_MAX) .. ' ID TOKEN pairs')
  end
  -- "QUEUE:N" is read with one match of a pattern made once (a queue
  -- name's magic characters are . and -); seq_of says what is wrong
  -- with any other id.
  local pat = '^' .. string.gsub(q, '[%.%-]', '%%%0') .. ':(%d+)$'
  for i = first, #args, 2 do
    ns[#ns + 1] = string.match(args[i], pat) or seq_of(q, args[i])
  end
  local toks = redis.call('HMGET', base .. ':tok', unpack(ns))
  -- The jobs of one claim have the same token value, and Lua keeps one
  -- copy of equal strings, so the last answer serves the next job after
  -- a compare of two pointers.
  local last_v, last_t, last_ok, last_u = nil, nil, false, false
  for k, n in ipairs(ns) do
    -- A value is TOKEN 0x01 STARTED, then NUL UNIQUE if the job has a
    -- unique key (split_token; no 0x01 STARTED from library version 5
    -- and older). Tokens hold no control character.
    local v, t = toks[k], args[first + 2 * k - 1]
    local ok, unique = false, false
    if v and v == last_v and t == last_t then
      ok, unique = last_ok, last_u
    elseif v then
      local z = string.find(v, '\1', 1, true)
      if z then
        ok = z == #t + 1 and string.sub(v, 1, z - 1) == t
        z = ok and string.find(v, '\0', z + 1, true)
        unique = z and string.sub(v, z + 1)
      else
        local old
        old, unique = split_token(v)
        ok = old == t
      end
      last_v, last_t, last_ok, last_u = v, t, ok, unique
    end
    out[k] = false
    if ok and not seen[n] then
      seen[n] = true
      out[k] = n
      uniques[k] = unique or false
    end
  end
  return out, uniques
end

---------------------------------------------------------------------------
-- redjob_extend NAMESPACE:{QUEUE} LEASE_MS ID TOKEN [ID TOKEN]...
-- Renews the leases still held by these tokens. Returns 1 or 0 per job,
-- or 2 for a job refused because it was cancelled (redjob_cancel), so
-- that a holder that missed the notice says why it stops the handler.
local function extend(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local lease = int_arg(args[1], 'lease_ms', 1, 2 ^ 40)
  local held = check_tokens(base, q, args, 2)
  local until_s = fmt(now + lease)
  local out = {}
  for i, n in ipairs(held) do
    if n then
      redis.call('ZADD', base .. ':run', 'XX', until_s, n)
      out[i] = 1
    else
      out[i] = 0
      local n = seq_of(q, args[2 * i])
      if redis.call('ZSCORE', base .. ':fin', n) and redis.call('HGET',
          base .. ':j:' .. n, 'outcome') == 'cancelled' then
        out[i] = 2
      end
    end
  end
  return out
end

-- Split an ack's arguments at "release" (at the place of an ID, which
-- is never that word): the ID TOKEN pairs before it, and the guards to
-- give back after it, each "lock KEY TOKEN" or "conc KEY MEMBER LIMIT".
local function ack_releases(args)
  local last = #args
  for i = 1, #args, 2 do
    if args[i] == 'release' then
      last = i - 1
      break
    end
  end
  if last == #args then
    return args, nil
  end
  if last > 2 * CLAIM_MAX then
    fail('BADARG', 'at most ' .. fmt(CLAIM_MAX) .. ' ID TOKEN pairs')
  end
  local ids, rel = {}, {}
  for i = 1, last do
    ids[i] = args[i]
  end
  local i = last + 2
  while i <= #args do
    local w = args[i] == 'lock' and 3 or args[i] == 'conc' and 4
    if not w or i + w - 1 > #args or #rel >= 4 * CLAIM_MAX then
      fail('BADARG', 'after "release" come at most ' ..
        fmt(4 * CLAIM_MAX) .. ' "lock KEY TOKEN" and ' ..
        '"conc KEY MEMBER LIMIT"')
    end
    rel[#rel + 1] = {args[i], args[i + 1], args[i + 2], args[i + 3]}
    i = i + w
  end
  return ids, rel
end

---------------------------------------------------------------------------
-- redjob_ack NAMESPACE:{QUEUE} ID TOKEN [ID TOKEN]...
--   [release {lock KEY TOKEN | conc KEY MEMBER LIMIT}...]
-- Finishes jobs: they leave Redis. A token that no longer matches (the
-- lease was taken over, or the job was removed) is refused with 0.
-- After "release", the guards the jobs held (docs/guards.md, "Guards in
-- the claim"): each lock is released and each concurrency slot given
-- back, as redjob_lock_release and redjob_limit_conc_release with
-- "next" would, and the first waiter is woken (see guard_take above for
-- why these keys may be touched here). A guard that is no longer the
-- job's, or a key that is not a guard's, is left alone; the reply is
-- the same.
local function ack(keys, args)
  local base, q = open(keys)
  local rel
  args, rel = ack_releases(args)
  local held, uniques = check_tokens(base, q, args, 1)
  local out, gone, keys, done = {}, {}, {}, 0
  local jp = base .. ':j:'
  for i, n in ipairs(held) do
    if n then
      if uniques[i] then
        release_unique(base, n, uniques[i])
      end
      done = done + 1
      gone[done] = n
      keys[done] = jp .. n
      out[i] = 1
    else
      out[i] = 0
    end
  end
  if done > 0 then
    redis.call('DEL', unpack(keys))
    redis.call('HDEL', base .. ':jobs', unpack(gone))
    redis.call('HDEL', base .. ':tok', unpack(gone))
    redis.call('ZREM', base .. ':run', unpack(gone))
    redis.call('HINCRBY', base .. ':stats', 'processed', done)
  end
  if rel and #rel > 0 then
    guard_release_all(string.sub(base, 1, #base - #q - 3), rel, now_ms())
  end
  return out
end

---------------------------------------------------------------------------
-- redjob_fail NAMESPACE:{QUEUE} ID TOKEN ERROR RETRY_DELAY_MS MAX_ATTEMPTS
--   [dead]
-- A failed attempt. The job is retried RETRY_DELAY_MS from now unless it
-- has used its max_attempts (its own, else MAX_ATTEMPTS) or "dead" is
-- given (a permanent failure); then it goes to the dead set.
-- Returns {"retry", due_ms, attempts} or {"dead", now, attempts}.
local function failjob(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local n = seq_of(q, args[1] or '')
  local token, msg = args[2], args[3] or ''
  local delay = int_arg(args[4], 'retry_delay_ms', 0, 2 ^ 48)
  local default_max = int_arg(args[5], 'max_attempts', 1, 1000000)
  local permanent = args[6] == 'dead'
  if args[6] and not permanent then
    fail('BADARG', 'the last argument may only be "dead"')
  end
  local held = redis.call('HGET', base .. ':tok', n)
  local unique
  if held then
    held, unique = split_token(held)
  end
  if not held or held ~= token then
    fail('STALE', 'job ' .. q .. ':' .. n .. ' is not held by this token')
  end
  local j = job_hash(base, n)
  local f = redis.call('HMGET', j, 'attempts', 'max_attempts')
  if #msg > MAX_ERROR then
    msg = string.sub(msg, #msg - MAX_ERROR + 1)
  end
  local attempts = (tonumber(f[1]) or 0) + 1
  local max = tonumber(f[2]) or default_max
  local stats = base .. ':stats'
  redis.call('ZREM', base .. ':run', n)
  redis.call('HDEL', base .. ':tok', n)
  redis.call('HSET', j, 'attempts', attempts, 'failed', now)
  -- An attempt used its limiter reservation, if it had one, and a wake
  -- that came while it ran is stale.
  redis.call('HDEL', j, 'reserved', 'woken', 'held')
  redis.call('HINCRBY', stats, 'failed', 1)
  if permanent or attempts >= max then
    bury(base, n, now, msg, unique)
    return {'dead', fmt(now), fmt(attempts)}
  end
  local due = now + delay
  wake_if_earlier(base, due, now)
  redis.call('ZADD', base .. ':due', due, n)
  redis.call('HSET', j, 'due', due, 'last_error', msg)
  redis.call('HINCRBY', stats, 'retried', 1)
  return {'retry', fmt(due), fmt(attempts)}
end

---------------------------------------------------------------------------
-- redjob_discard NAMESPACE:{QUEUE} ID TOKEN REASON
-- Drops a held job without running it (a lock conflict under the policy
-- "discard"): it leaves Redis, counted under discarded. Returns 1, or 0
-- when the token is not ours.
local function discard(keys, args)
  local base, q = open(keys)
  local held, uniques = check_tokens(base, q,
    {args[1] or '', args[2] or ''}, 1)
  local n = held[1]
  if not n then
    return 0
  end
  release_unique(base, n, uniques[1] or nil)
  redis.call('ZREM', base .. ':run', n)
  redis.call('HDEL', base .. ':tok', n)
  redis.call('DEL', base .. ':j:' .. n)
  redis.call('HDEL', base .. ':jobs', n)
  redis.call('HINCRBY', base .. ':stats', 'discarded', 1)
  return 1
end

---------------------------------------------------------------------------
-- redjob_requeue NAMESPACE:{QUEUE} DELAY_MS REASON [reserve VALID_MS NAME |
--   keep] ID TOKEN [ID TOKEN]...
-- Puts held jobs back without spending an attempt: REASON is "throttled"
-- or "conflict" (counted under throttled / conflicts), "shutdown"
-- (requeued), "lock_lost" (lock_lost; a stall of the job too) or
-- "unknown_type" (unknown_type: the worker does not know the job's type
-- yet, as in a rolling deploy).
-- The job's field "reserved" (a limiter reservation, docs/guards.md)
-- becomes "UNTIL_MS NAME" with "reserve", UNTIL_MS being the new due time
-- plus VALID_MS; stays as it is with "keep"; else it is deleted.
-- With "by GUARD" (the limiter's name, or the lock's key, that held it
-- back), the job's field "held" becomes "REASON GUARD" for redjob_why;
-- without, it is deleted.
-- Returns 1 or 0 per job.
local function requeue(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local delay = int_arg(args[1], 'delay_ms', 0, 2 ^ 48)
  local reason = args[2]
  local counter
  if reason == 'throttled' then counter = 'throttled'
  elseif reason == 'conflict' then counter = 'conflicts'
  elseif reason == 'shutdown' then counter = 'requeued'
  elseif reason == 'lock_lost' then counter = 'lock_lost'
  elseif reason == 'unknown_type' then counter = 'unknown_type'
  else
    fail('BADARG', 'reason must be throttled, conflict, shutdown, ' ..
      'lock_lost or unknown_type')
  end
  local due = now + delay
  local first, reserved, keep = 3, nil, false
  if args[3] == 'reserve' then
    local valid = int_arg(args[4], 'valid_ms', 0, 2 ^ 48)
    local name = args[5]
    if not name or not string.match(name, '^[%w_.:%-]+$') or
        #name > 128 then
      fail('BADARG', 'the reserving limiter\'s name must be 1-128 of ' ..
        'A-Z a-z 0-9 _ . : -')
    end
    reserved = fmt(due + valid) .. ' ' .. name
    first = 6
  elseif args[3] == 'keep' then
    keep = true
    first = 4
  end
  local by = nil
  if args[first] == 'by' then
    by = args[first + 1]
    if not by or #by == 0 or #by > 1024 then
      fail('BADARG', 'the guard after "by" must be 1-1024 bytes')
    end
    by = reason .. ' ' .. by
    first = first + 2
  end
  local held = check_tokens(base, q, args, first)
  local out, moved = {}, {}
  for i, n in ipairs(held) do
    if n then
      moved[#moved + 1] = n
      out[i] = 1
    else
      out[i] = 0
    end
  end
  if #moved > 0 then
    wake_if_earlier(base, due, now)
    redis.call('ZREM', base .. ':run', unpack(moved))
    redis.call('HDEL', base .. ':tok', unpack(moved))
    for _, n in ipairs(moved) do
      local j = job_hash(base, n)
      local at = due
      -- Woken by its lock's release, or its concurrency limiter's,
      -- while it was held (redjob_wake): the lock or a slot is free, so
      -- it tries again now, not at its fallback. A reservation keeps
      -- its own time.
      if (reason == 'conflict' or reason == 'throttled' and
          not reserved) and redis.call('HGET', j, 'woken') then
        redis.call('HDEL', j, 'woken')
        at = now
        wake_if_earlier(base, now, now)
      end
      redis.call('ZADD', base .. ':due', at, n)
      if reserved and by then
        redis.call('HSET', j, 'due', at, 'reserved', reserved, 'held', by)
      elseif reserved then
        redis.call('HSET', j, 'due', at, 'reserved', reserved)
        redis.call('HDEL', j, 'held')
      elseif by then
        redis.call('HSET', j, 'due', at, 'held', by)
        if not keep then
          redis.call('HDEL', j, 'reserved')
        end
      else
        redis.call('HSET', j, 'due', at)
        redis.call('HDEL', j, 'held', keep and 'held' or 'reserved')
      end
      if counter == 'lock_lost' then
        redis.call('HINCRBY', j, 'stalls', 1)
      end
    end
    redis.call('HINCRBY', base .. ':stats', counter, #moved)
  end
  return out
end

---------------------------------------------------------------------------
-- redjob_wake NAMESPACE:{QUEUE} ID
-- Makes a scheduled job due now: a waiter of a lock or of a concurrency
-- limiter, handed over by a release (docs/guards.md). A held job is
-- marked "woken" instead, and its requeue for a conflict (or a throttle,
-- without a reservation) makes it due now. Returns 1 if the job waits or
-- is already due or held, 0 if it is in none of those (gone, or dead):
-- the caller then wakes the next waiter.
local function wakejob(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  if #args ~= 1 then
    fail('BADARG', 'redjob_wake takes ID')
  end
  local n = seq_of(q, args[1])
  if redis.call('ZSCORE', base .. ':run', n) then
    -- Held: maybe on its way back to the wait list with a conflict that
    -- this release has made stale. Its requeue sees the mark.
    redis.call('HSET', job_hash(base, n), 'woken', '1')
    return 1
  end
  local s = redis.call('ZSCORE', base .. ':due', n)
  if not s then
    return 0
  end
  if tonumber(s) > now then
    wake_if_earlier(base, now, now)
    redis.call('ZADD', base .. ':due', now, n)
    redis.call('HSET', job_hash(base, n), 'due', now)
  end
  return 1
end
G.wake = wakejob

-- Where a job is now: state and score, from the sets (the truth). A
-- finished job that is kept (B:fin) is in state done, cancelled or
-- expired, its score the time it leaves Redis.
local function locate(base, n, now)
  local s = redis.call('ZSCORE', base .. ':run', n)
  if s then return 'running', s end
  s = redis.call('ZSCORE', base .. ':due', n)
  if s then
    return tonumber(s) <= now and 'ready' or 'scheduled', s
  end
  s = redis.call('ZSCORE', base .. ':dead', n)
  if s then return 'dead', s end
  s = redis.call('ZSCORE', base .. ':fin', n)
  if s then
    return redis.call('HGET', base .. ':j:' .. n, 'outcome') or 'done', s
  end
  return nil, nil
end

---------------------------------------------------------------------------
-- redjob_retry NAMESPACE:{QUEUE} ID
-- Makes a dead or scheduled job due now; a dead job starts again with no
-- attempts spent. Returns the state it was in.
local function retry(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local n = seq_of(q, args[1] or '')
  local state = locate(base, n, now)
  if not state then
    fail('NOJOB', 'no job ' .. q .. ':' .. n)
  elseif state == 'running' then
    fail('RUNNING', 'job ' .. q .. ':' .. n .. ' is running')
  elseif state ~= 'dead' and state ~= 'ready' and state ~= 'scheduled' then
    fail('FINISHED', 'job ' .. q .. ':' .. n .. ' has finished (' ..
      state .. ')')
  end
  local j = job_hash(base, n)
  if state == 'dead' then
    redis.call('ZREM', base .. ':dead', n)
    redis.call('HSET', j, 'attempts', 0, 'stalls', 0)
  end
  redis.call('HSET', j, 'due', now)
  redis.call('HDEL', j, 'held')
  wake_if_earlier(base, now, now)
  redis.call('ZADD', base .. ':due', now, n)
  return state
end

---------------------------------------------------------------------------
-- redjob_remove NAMESPACE:{QUEUE} ID
-- Deletes a job in any state. A running job's renewal, ack and fail are
-- refused from then on: its worker stops the handler at its next
-- renewal. Returns the state it was in.
local function remove(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local n = seq_of(q, args[1] or '')
  local state = locate(base, n, now)
  local j = base .. ':j:' .. n
  if not state and not job_exists(base, n) then
    fail('NOJOB', 'no job ' .. q .. ':' .. n)
  end
  release_unique(base, n, redis.call('HGET', j, 'unique'))
  redis.call('ZREM', base .. ':due', n)
  redis.call('ZREM', base .. ':run', n)
  redis.call('ZREM', base .. ':dead', n)
  redis.call('ZREM', base .. ':fin', n)
  redis.call('HDEL', base .. ':tok', n)
  redis.call('DEL', j)
  redis.call('HDEL', base .. ':jobs', n)
  return state or 'orphan'
end

---------------------------------------------------------------------------
-- redjob_cancel NAMESPACE:{QUEUE} ID [REASON]
-- Cancels a job that has not finished. Ready or scheduled, it leaves due;
-- running (or claimed), it leaves run and tok at once, so that its
-- holder's renewal, ack and fail are refused and it is never retried,
-- and its holder is told on the channel NAMESPACE:{QUEUE}:cancel ("N
-- OWNER", OWNER the head of the claim token) to stop the handler now,
-- not at its next renewal. Either way its unique key is released, it is
-- kept as cancelled (REASON its last_error) for FIN_TTL and counted under
-- cancelled. A dead or finished job is refused with REDJOB_FINISHED, a
-- job that does not exist with REDJOB_NOJOB, before anything is written.
-- Returns the state it was in: ready, scheduled or running.
local function cancel(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local n = seq_of(q, args[1] or '')
  local reason = args[2] or 'cancelled'
  if #reason > MAX_ERROR then
    reason = string.sub(reason, 1, MAX_ERROR)
  end
  local state = locate(base, n, now)
  local id = q .. ':' .. n
  if not state then
    fail('NOJOB', 'no job ' .. id)
  elseif state == 'dead' then
    fail('FINISHED', 'job ' .. id .. ' is dead: there is nothing to ' ..
      'cancel (redjob rm deletes it)')
  elseif state ~= 'ready' and state ~= 'scheduled' and
      state ~= 'running' then
    fail('FINISHED', 'job ' .. id .. ' has finished (' .. state .. ')')
  end
  local unique
  if state == 'running' then
    local token
    token, unique = split_token(redis.call('HGET', base .. ':tok', n) or '')
    redis.call('ZREM', base .. ':run', n)
    redis.call('HDEL', base .. ':tok', n)
    if token ~= '' then
      redis.call('PUBLISH', base .. ':cancel',
        n .. ' ' .. string.sub(token, 1, OWNER_LEN))
    end
  else
    unique = redis.call('HGET', base .. ':j:' .. n, 'unique')
    redis.call('ZREM', base .. ':due', n)
  end
  release_unique(base, n, unique)
  redis.call('HINCRBY', base .. ':stats', 'cancelled', 1)
  keep_finished(base, n, now, 'cancelled', FIN_TTL, reason)
  return state
end

---------------------------------------------------------------------------
-- redjob_pause / redjob_resume NAMESPACE:{QUEUE}
-- A paused queue keeps accepting jobs; workers claim nothing from it.
local function pause(keys)
  local base = open(keys)
  redis.call('HSETNX', base .. ':meta', 'schema', SCHEMA)
  return redis.call('HSET', base .. ':meta', 'paused', 1)
end

local function resume(keys)
  local base = open(keys)
  local n = redis.call('HDEL', base .. ':meta', 'paused')
  redis.call('ZADD', base .. ':wake', 0, 'w')
  return n
end

-- The live workers of a queue, from B:seen: {owner = {host, types}}.
local function live_workers(base, now)
  local f = redis.call('HGETALL', base .. ':seen')
  local out, n = {}, 0
  for i = 1, #f, 2 do
    local words = {}
    for w in string.gmatch(f[i + 1], '%S+') do
      words[#words + 1] = w
    end
    if (tonumber(words[1]) or 0) > now then
      local types = {}
      for k = 3, #words do
        types[words[k]] = true
      end
      out[f[i]] = {host = words[2] or '?', types = types}
      n = n + 1
    end
  end
  return out, n
end

---------------------------------------------------------------------------
-- redjob_stats NAMESPACE:{QUEUE}   (read-only)
-- Returns a flat list of NAME VALUE pairs; "workers" counts the live
-- workers that serve the queue (redjob_beat).
local function stats(keys)
  local now = now_ms()
  local base, _, meta = open(keys, 'paused')
  local due = base .. ':due'
  local ready = redis.call('ZCOUNT', due, '-inf', now)
  local out = {'ready', ready,
    'scheduled', redis.call('ZCARD', due) - ready,
    'running', redis.call('ZCARD', base .. ':run'),
    'dead', redis.call('ZCARD', base .. ':dead'),
    'done', redis.call('ZCARD', base .. ':fin'),
    'paused', meta[2] and 1 or 0}
  local names = {'enqueued', 'processed', 'failed', 'retried', 'throttled',
    'conflicts', 'stalled', 'requeued', 'discarded', 'malformed',
    'lock_lost', 'unknown_type', 'cancelled', 'expired'}
  local c = redis.call('HMGET', base .. ':stats', unpack(names))
  for i, name in ipairs(names) do
    out[#out + 1] = name
    out[#out + 1] = tonumber(c[i]) or 0
  end
  local _, nworkers = live_workers(base, now)
  out[#out + 1] = 'workers'
  out[#out + 1] = nworkers
  return out
end

---------------------------------------------------------------------------
-- redjob_show NAMESPACE:{QUEUE} ID   (read-only)
-- Returns the job's fields as NAME VALUE pairs, with "id", "queue",
-- "state" and "score" (due time, lease end or time of death) first.
local function show(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local n = seq_of(q, args[1] or '')
  local f = redis.call('HGETALL', base .. ':j:' .. n)
  local v = redis.call('HGET', base .. ':jobs', n)
  if v then
    local p = unpack_job(v)
    local h = {'type', p.type, 'payload', p.payload, 'created', p.created}
    if not p.type then h = {} end
    for _, x in ipairs(f) do
      h[#h + 1] = x
    end
    f = h
  end
  if #f == 0 then
    fail('NOJOB', 'no job ' .. q .. ':' .. n)
  end
  local state, score = locate(base, n, now)
  local out = {'id', q .. ':' .. n, 'queue', q, 'state', state or 'orphan',
    'score', score or '-1'}
  local seen = {}
  for i = 1, #f, 2 do
    if f[i] ~= 'state' then
      out[#out + 1] = f[i]
      out[#out + 1] = f[i + 1]
      seen[f[i]] = true
    end
  end
  -- A job never moved since its enqueue has its due time only as its
  -- score in :due (or as DUE in the claim reply, once running).
  if not seen['due'] and (state == 'ready' or state == 'scheduled') then
    out[#out + 1] = 'due'
    out[#out + 1] = score
  end
  -- The holder's claim token, kept in B:tok, and what it says: the
  -- holding worker's owner id (its first 16 bytes) and the claim's time.
  local t = redis.call('HGET', base .. ':tok', n)
  if t then
    local token, _, started = split_token(t)
    out[#out + 1] = 'token'
    out[#out + 1] = token
    out[#out + 1] = 'worker'
    out[#out + 1] = string.sub(token, 1, OWNER_LEN)
    if started then
      out[#out + 1] = 'started'
      out[#out + 1] = started
    end
  end
  -- Counters start absent (cheaper enqueues); show them as 0.
  for _, name in ipairs({'attempts', 'stalls'}) do
    if not seen[name] then
      out[#out + 1] = name
      out[#out + 1] = '0'
    end
  end
  return out
end

---------------------------------------------------------------------------
-- redjob_list NAMESPACE:{QUEUE} STATE OFFSET COUNT   (read-only)
-- Lists jobs of one state: ready and scheduled by due time, running by
-- lease end, dead newest first, done (every finished job kept: done,
-- cancelled or expired) by the time it leaves, latest first. Each entry
-- is {id, score, type, attempts}, for a running job also {started,
-- worker}: the claim's time ('' if unknown) and the holder's owner id,
-- and for a finished one {outcome, finished}.
local function list(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local state = args[1]
  local off = int_arg(args[2] or '0', 'offset', 0, 2 ^ 40)
  local count = int_arg(args[3] or '100', 'count', 1, 10000)
  local ids
  if state == 'ready' then
    ids = redis.call('ZRANGE', base .. ':due', '-inf', now, 'BYSCORE',
      'LIMIT', off, count, 'WITHSCORES')
  elseif state == 'scheduled' then
    ids = redis.call('ZRANGE', base .. ':due', '(' .. fmt(now), '+inf',
      'BYSCORE', 'LIMIT', off, count, 'WITHSCORES')
  elseif state == 'running' then
    ids = redis.call('ZRANGE', base .. ':run', off, off + count - 1,
      'WITHSCORES')
  elseif state == 'dead' or state == 'done' then
    ids = redis.call('ZRANGE', base .. (state == 'dead' and ':dead' or
      ':fin'), off, off + count - 1, 'REV', 'WITHSCORES')
  else
    fail('BADARG', 'state must be ready, scheduled, running, dead or done')
  end
  local out = {}
  local toks = {}
  if state == 'running' and #ids > 0 then
    local ns = {}
    for i = 1, #ids, 2 do
      ns[#ns + 1] = ids[i]
    end
    toks = redis.call('HMGET', base .. ':tok', unpack(ns))
  end
  for i = 1, #ids, 2 do
    local f = job_get(base, ids[i], 'type', 'attempts', 'outcome',
      'finished')
    local e = {q .. ':' .. ids[i], ids[i + 1], f[1] or '', f[2] or '0'}
    if state == 'done' then
      e[5] = f[3] or 'done'
      e[6] = f[4] or ''
    elseif state == 'running' then
      local token, _, started = split_token(toks[(i + 1) / 2] or '')
      e[5] = started or ''
      e[6] = string.sub(token, 1, OWNER_LEN)
    end
    out[#out + 1] = e
  end
  return out
end

---------------------------------------------------------------------------
-- redjob_beat NAMESPACE:{QUEUE} OWNER TTL_MS [HOST:PID TYPE...]
-- A worker that serves the queue says so, every few seconds: field OWNER
-- of B:seen becomes "EXPIRES_MS HOST:PID TYPE..." (the job types it can
-- run), which redjob_why reads to tell whether a live worker serves the
-- queue and knows a job's type. TTL_MS 0 removes the field (the worker
-- leaves). Each beat also removes up to SEEN_CLEAN fields that expired
-- (workers that died without leaving). Returns the server's time, ms.
local function beat(keys, args)
  local now = now_ms()
  local base = open(keys)
  local owner = args[1]
  if not owner or #owner ~= OWNER_LEN or not string.match(owner, '^%x+$')
      then
    fail('BADARG', 'owner must be ' .. fmt(OWNER_LEN) .. ' hex digits')
  end
  local ttl = int_arg(args[2], 'ttl_ms', 0, 86400000)
  local seen = base .. ':seen'
  if ttl == 0 then
    redis.call('HDEL', seen, owner)
    return fmt(now)
  end
  if #args < 3 or #args > 10002 then
    fail('BADARG', 'expected HOST:PID and at most 10000 job types')
  end
  local desc = {fmt(now + ttl)}
  for i = 3, #args do
    if not string.match(args[i], '^[%w_.:%-]+$') or #args[i] > 255 then
      fail('BADARG', 'HOST:PID and job types are 1-255 of ' ..
        'A-Z a-z 0-9 _ . : -, not "' .. args[i] .. '"')
    end
    desc[#desc + 1] = args[i]
  end
  local old = redis.call('HRANDFIELD', seen, SEEN_CLEAN, 'WITHVALUES')
  local gone = {}
  for i = 1, #old, 2 do
    if (tonumber(string.match(old[i + 1], '^%d+')) or 0) <= now then
      gone[#gone + 1] = old[i]
    end
  end
  if #gone > 0 then
    redis.call('HDEL', seen, unpack(gone))
  end
  redis.call('HSET', seen, owner, table.concat(desc, ' '))
  return fmt(now)
end

---------------------------------------------------------------------------
-- redjob_served NAMESPACE:{QUEUE} [TYPE]   (read-only)
-- For a producer about to enqueue: {live workers serving the queue, how
-- many of them know TYPE} (redjob_beat).
local function served(keys, args)
  local now = now_ms()
  local base = open(keys)
  local workers, n = live_workers(base, now)
  local knowing = 0
  if args[1] then
    for _, w in pairs(workers) do
      if w.types[args[1]] then
        knowing = knowing + 1
      end
    end
  end
  return {n, knowing}
end

---------------------------------------------------------------------------
-- redjob_why NAMESPACE:{QUEUE} ID   (read-only)
-- The one reason the job is not running, or not finished, from its state
-- and every gate the queue's own keys know of: NAME VALUE pairs, "gate"
-- and "text" (a sentence, times in ms since the epoch) first, then the
-- details that apply: state, now, until, error, attempts, worker, host,
-- since, lease, limiter, lock, ahead, running, workers, unique, paused.
-- gate is one of done, cancelled, expired, orphan, dead, running,
-- limiter, lock, retry,
-- scheduled, paused, no_worker, no_type, ready. A lock's holder and
-- fence live in the lock's own slot: a client reads them with
-- redjob_lock_info (docs/guards.md).
local function why(keys, args)
  local now = now_ms()
  local base, q, meta = open(keys, 'paused')
  local n = seq_of(q, args[1] or '')
  local id = q .. ':' .. n
  local f = job_get(base, n, 'type', 'attempts', 'last_error', 'held',
    'unique', 'failed', 'died', 'max_attempts', 'finished')
  local state, score = locate(base, n, now)
  local out = {}
  local function put(k, v)
    out[#out + 1] = k
    out[#out + 1] = v
  end
  local function say(gate, text)
    table.insert(out, 1, text)
    table.insert(out, 1, 'text')
    table.insert(out, 1, gate)
    table.insert(out, 1, 'gate')
    return out
  end
  put('state', state or 'gone')
  put('now', fmt(now))
  if f[5] then
    put('unique', f[5])
  end
  if not state then
    if job_exists(base, n) then
      return say('orphan', 'job ' .. id .. ' is in no state set: ' ..
        'its hash was left by hand; redjob rm deletes it')
    end
    local last = tonumber(redis.call('GET', base .. ':seq')) or 0
    if tonumber(n) > last then
      fail('NOJOB', 'no job ' .. id)
    end
    return say('done', 'job ' .. id .. ' finished (or was removed): ' ..
      'it is no longer in Redis')
  end
  if state == 'dead' then
    put('until', score)
    put('error', f[3] or '')
    put('attempts', f[2] or '0')
    return say('dead', 'dead since ' .. score .. ': ' .. (f[3] or '?'))
  end
  if state == 'done' or state == 'cancelled' or state == 'expired' then
    put('until', score)
    put('since', f[9] or '')
    if state == 'done' then
      return say('done', 'done at ' .. (f[9] or '?') ..
        '; kept until ' .. score)
    end
    put('error', f[3] or '')
    return say(state, state .. ' at ' .. (f[9] or '?') .. ': ' ..
      (f[3] or '?') .. '; kept until ' .. score)
  end
  local workers, nworkers = live_workers(base, now)
  put('workers', fmt(nworkers))
  if state == 'running' then
    local token, _, started = split_token(
      redis.call('HGET', base .. ':tok', n) or '')
    local owner = string.sub(token, 1, OWNER_LEN)
    local w = workers[owner]
    put('worker', owner)
    put('host', w and w.host or '')
    put('since', started or '')
    put('lease', score)
    if w then
      return say('running', 'running on ' .. w.host .. ' since ' ..
        (started or '?') .. ' (lease until ' .. score .. ')')
    end
    return say('running', 'held by worker ' .. owner .. ' since ' ..
      (started or '?') .. ', which is not alive: the job runs again ' ..
      'when its lease ends at ' .. score)
  end
  local paused = meta[2] and true or false
  if paused then
    put('paused', '1')
  end
  local also = paused and '; and the queue is paused' or ''
  if state == 'scheduled' then
    put('until', score)
    local held = f[4]
    local reason, guard
    if held then
      reason, guard = string.match(held, '^(%S+) (.+)$')
    end
    if reason == 'throttled' then
      put('limiter', guard)
      return say('limiter', 'limiter ' .. guard .. ' refuses it until ' ..
        score .. also)
    elseif reason == 'unknown_type' then
      return say('no_type', 'no worker knew job type ' .. guard ..
        ' when it was claimed; it tries again at ' .. score .. also)
    elseif reason == 'conflict' then
      put('lock', guard)
      return say('lock', 'lock ' .. guard .. ' is held by another job; ' ..
        'it waits for its release (at the latest until ' .. score .. ')' ..
        also)
    elseif tonumber(f[2] or '0') > 0 and f[3] and f[6] then
      put('attempts', f[2])
      put('error', f[3])
      return say('retry', 'attempt ' .. f[2] .. ' failed: ' .. f[3] ..
        '; retried at ' .. score .. also)
    end
    return say('scheduled', 'scheduled until ' .. score .. also)
  end
  -- Ready: due now; what keeps it from a worker?
  put('until', score)
  if paused then
    return say('paused', 'queue ' .. q .. ' is paused (redjob resume ' ..
      q .. ')')
  end
  if nworkers == 0 then
    return say('no_worker', 'no live worker serves queue ' .. q)
  end
  local knows = false
  for _, w in pairs(workers) do
    if w.types[f[1] or ''] then
      knows = true
      break
    end
  end
  if not knows then
    return say('no_type', 'no live worker of queue ' .. q ..
      ' knows job type ' .. (f[1] or '?'))
  end
  local ahead = redis.call('ZCOUNT', base .. ':due', '-inf', '(' .. score)
  local running = redis.call('ZCARD', base .. ':run')
  put('ahead', fmt(ahead))
  put('running', fmt(running))
  return say('ready', 'ready since ' .. score .. ', waiting for a free ' ..
    'slot: ' .. fmt(ahead) .. ' jobs are due before it, ' ..
    fmt(running) .. ' running, ' .. fmt(nworkers) .. ' live workers')
end

---------------------------------------------------------------------------
-- redjob_done NAMESPACE:{QUEUE} ID TOKEN TTL_MS RESULT [FULL_SIZE]
-- redjob_done NAMESPACE:{QUEUE} ID TOKEN TTL_MS RESULT FULL_SIZE
--   ID TOKEN TTL_MS RESULT FULL_SIZE...
-- Finishes jobs of a type that keeps results (result: in redjob.yml):
-- each, checked against its token as redjob_ack does, is counted
-- processed and kept TTL_MS as done (B:fin) with its result in the fields
-- "result" and "result_size" (FULL_SIZE: how much the handler gave, when
-- RESULT is its first bytes), and "result_truncated" 1 when RESULT is
-- shorter; whoever waits is told. With one job (five arguments or fewer)
-- returns 1, or 0 when the token is not ours; with more (FULL_SIZE then
-- given for each), a 1 or 0 for each, in order. All are checked before
-- any is written.
local function donejob(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local many = #args > 5
  if many and (#args % 5 ~= 0 or #args / 5 > CLAIM_MAX) then
    fail('BADARG', 'expected ID TOKEN TTL_MS RESULT FULL_SIZE for each ' ..
      'of at most ' .. fmt(CLAIM_MAX) .. ' jobs')
  end
  local jobs, ns = {}, {}
  for i = 1, many and #args or 1, 5 do
    local result = args[i + 3]
    if not result then
      fail('BADARG', 'missing result (use "" for none)')
    end
    if #result > MAX_RESULT then
      fail('TOOBIG', 'result of ' .. fmt(#result) ..
        ' bytes is over the limit of ' .. fmt(MAX_RESULT) .. ' bytes')
    end
    local n = seq_of(q, args[i] or '')
    ns[#ns + 1] = n
    jobs[#jobs + 1] = {n, args[i + 1] or '',
      int_arg(args[i + 2], 'ttl_ms', 1, MAX_RESULT_TTL), result,
      int_arg(args[i + 4] or #result, 'full_size', #result, 2 ^ 50)}
  end
  local toks = redis.call('HMGET', base .. ':tok', unpack(ns))
  local out, gone, seen = {}, {}, {}
  for k, j in ipairs(jobs) do
    local held, unique = nil, nil
    if toks[k] then
      held, unique = split_token(toks[k])
    end
    out[k] = 0
    if held and held == j[2] and not seen[j[1]] then
      seen[j[1]] = true
      out[k] = 1
      gone[#gone + 1] = j[1]
      release_unique(base, j[1], unique)
      -- A job is done once (redjob_retry refuses a finished one), so it
      -- has no result fields yet.
      local set = {'result', j[4], 'result_size', fmt(j[5])}
      if j[5] > #j[4] then
        set[5] = 'result_truncated'; set[6] = '1'
      end
      keep_finished_untrimmed(base, j[1], now, 'done', j[3], nil, set)
    end
  end
  if #gone > 0 then
    redis.call('ZREM', base .. ':run', unpack(gone))
    redis.call('HDEL', base .. ':tok', unpack(gone))
    redis.call('HINCRBY', base .. ':stats', 'processed', #gone)
    trim_fin(base, now)
  end
  return many and out or out[1]
end

---------------------------------------------------------------------------
-- redjob_result NAMESPACE:{QUEUE} ID   (read-only)
-- What a waiter (redjob wait) needs of a job, in one read:
-- {state, type, last_error, result, result_size, result_truncated}.
-- state is as redjob_show's (a kept finished job: done, cancelled or
-- expired), or "gone" for a job that has left Redis (finished without a
-- result kept, its ttl passed, or removed); result_size is -1 when
-- the job holds no result. An id the queue never gave is REDJOB_NOJOB.
local function jobresult(keys, args)
  local now = now_ms()
  local base, q = open(keys)
  local n = seq_of(q, args[1] or '')
  local f = job_get(base, n, 'type', 'last_error', 'result', 'result_size',
    'result_truncated')
  local state, score = locate(base, n, now)
  -- A finished job (B:fin, scored by the time it leaves) whose time is
  -- up is gone, though trim_fin has not come by yet.
  local kept = state and state ~= 'ready' and state ~= 'scheduled' and
    state ~= 'running' and state ~= 'dead'
  if kept and tonumber(score) <= now then
    state = nil
    f = {}
  end
  if not state then
    if f[1] then
      state = 'orphan'
    else
      local last = tonumber(redis.call('GET', base .. ':seq')) or 0
      if tonumber(n) > last then
        fail('NOJOB', 'no job ' .. q .. ':' .. n)
      end
      state = 'gone'
    end
  end
  return {state, f[1] or '', f[2] or '', f[3] or '',
    f[3] and (f[4] or fmt(#f[3])) or '-1', f[5] or '0'}
end

---------------------------------------------------------------------------
-- Periodic jobs (redjob.yml(5), "schedule"). Every redjobd with a
-- schedule calls redjob_tick at each of its ticks; B:sched holds, per job
-- TYPE, the last tick enqueued ("last:TYPE"), so a tick is enqueued once
-- however many instances call, and a restart neither loses nor repeats
-- one. The published definition ("spec:TYPE", "tz:TYPE", "misfire:TYPE",
-- "catchup:TYPE", "next:TYPE", "seen:TYPE") is for redjob schedules.
local SCHED_FIELDS = {'spec', 'tz', 'misfire', 'catchup', 'next', 'seen',
  'last'}
local MISFIRES = {skip = true, once = true, all = true}
local CATCHUP_MAX = 1000

local function sched_type(t)
  if not t or not string.match(t, '^[%w_.:%-]+$') or #t > 128 then
    fail('BADARG', 'job type must be 1-128 of A-Z a-z 0-9 _ . : -')
  end
  return t
end

local function sched_misfire(m)
  if not MISFIRES[m or ''] then
    fail('BADARG', 'misfire must be skip, once or all, not "' ..
      tostring(m) .. '"')
  end
  return m
end

-- redjob_schedule NAMESPACE:{QUEUE} TYPE SPEC TIMEZONE MISFIRE MAX_CATCHUP
--   NEXT
-- A worker starts scheduling TYPE: publishes the schedule's definition
-- and its next tick. Returns {last tick enqueued or '', now, the spec and
-- timezone published before or ''}.
local function schedule(keys, args)
  local now = now_ms()
  local base = open(keys)
  local t = sched_type(args[1])
  local spec, tz = args[2], args[3]
  if not spec or #spec == 0 or #spec > 256 then
    fail('BADARG', 'spec must be 1-256 bytes')
  end
  if not tz or #tz == 0 or #tz > 128 then
    fail('BADARG', 'timezone must be 1-128 bytes')
  end
  local m = sched_misfire(args[4])
  local c = int_arg(args[5], 'max_catchup', 1, CATCHUP_MAX)
  local nx = int_arg(args[6], 'next', 0, 2 ^ 50)
  local k = base .. ':sched'
  local old = redis.call('HMGET', k, 'last:' .. t, 'spec:' .. t, 'tz:' .. t)
  redis.call('HSET', k, 'spec:' .. t, spec, 'tz:' .. t, tz,
    'misfire:' .. t, m, 'catchup:' .. t, c, 'next:' .. t, nx,
    'seen:' .. t, now)
  return {old[1] or '', fmt(now), old[2] or '', old[3] or ''}
end

-- redjob_tick NAMESPACE:{QUEUE} TYPE PAYLOAD MISFIRE MAX_CATCHUP NEXT
--   TICK [TICK...]
-- The caller's ticks due, oldest first, the newest being the most recent
-- tick due (ms); at most MAX_CATCHUP + 1. Those after the stored last
-- tick are due; the newest of them is enqueued, and the older ones were
-- missed: dropped (skip), one job for them (once: the newest missed), or
-- each (all: the newest MAX_CATCHUP). With no stored last tick (a new
-- schedule), only the newest is. Each job gets the field "tick", and a
-- catch-up job also "misfire". NEXT becomes the stored next tick.
-- Returns {last tick stored, number of jobs, ID, TICK, ...}.
local function tick(keys, args)
  local now = now_ms()
  local base, q, meta = open(keys)
  local t = sched_type(args[1])
  local payload = args[2]
  if not payload then
    fail('BADARG', 'missing payload (use "" for none)')
  end
  if #payload > MAX_PAYLOAD then
    fail('TOOBIG', 'payload of ' .. fmt(#payload) ..
      ' bytes is over the limit of ' .. fmt(MAX_PAYLOAD) .. ' bytes')
  end
  local m = sched_misfire(args[3])
  local c = int_arg(args[4], 'max_catchup', 1, CATCHUP_MAX)
  local nx = int_arg(args[5], 'next', 0, 2 ^ 50)
  if #args < 6 or #args - 5 > c + 1 then
    fail('BADARG', 'expected 1 to max_catchup + 1 ticks')
  end
  local ticks = {}
  for i = 6, #args do
    local v = int_arg(args[i], 'tick', 0, 2 ^ 50)
    if #ticks > 0 and v <= ticks[#ticks] then
      fail('BADARG', 'ticks must be in increasing order')
    end
    ticks[#ticks + 1] = v
  end
  local k = base .. ':sched'
  local stored = redis.call('HGET', k, 'last:' .. t)
  local last = tonumber(stored)
  local cur = ticks[#ticks]
  if last and cur <= last then
    return {stored, '0'}
  end
  -- The missed ones: due, but older than the newest.
  local missed = {}
  if last then
    for i = 1, #ticks - 1 do
      if ticks[i] > last then missed[#missed + 1] = ticks[i] end
    end
  end
  local want = {}
  if m == 'once' and #missed > 0 then
    want[1] = {missed[#missed], 'once'}
  elseif m == 'all' then
    for i = math.max(1, #missed - c + 1), #missed do
      want[#want + 1] = {missed[i], 'all'}
    end
  end
  want[#want + 1] = {cur}
  local jobs = {}
  for i, w in ipairs(want) do
    jobs[i] = {type = t, payload = payload, due = now, tick = fmt(w[1]),
      misfire = w[2]}
  end
  local ids = write_jobs(base, q, meta, jobs, now)
  local reply = {fmt(cur), fmt(#want)}
  for i, w in ipairs(want) do
    local id = ids[2 * i - 1]
    reply[#reply + 1] = id
    reply[#reply + 1] = fmt(w[1])
  end
  redis.call('HSET', k, 'last:' .. t, cur, 'next:' .. t, nx,
    'seen:' .. t, now)
  return reply
end

-- redjob_schedules NAMESPACE:{QUEUE}   (read-only)
-- The queue's schedules: one entry per type,
-- {type, spec, tz, misfire, catchup, next, seen, last} ('' if unknown).
local function schedules(keys)
  local base = open(keys)
  local all = redis.call('HGETALL', base .. ':sched')
  local by, order = {}, {}
  for i = 1, #all, 2 do
    local f, t = string.match(all[i], '^(%a+):(.+)$')
    if f then
      if not by[t] then
        by[t] = {}
        order[#order + 1] = t
      end
      by[t][f] = all[i + 1]
    end
  end
  table.sort(order)
  local reply = {}
  for _, t in ipairs(order) do
    local e = {t}
    for _, f in ipairs(SCHED_FIELDS) do
      e[#e + 1] = by[t][f] or ''
    end
    reply[#reply + 1] = e
  end
  return reply
end

---------------------------------------------------------------------------
-- redjob_version   (read-only, no keys)
-- Returns {library version, schema version}.
local function version()
  return {LIB_VERSION, SCHEMA}
end

redis.register_function{function_name = 'redjob_enqueue', callback = entry(enqueue)}
redis.register_function{function_name = 'redjob_enqueue_bulk',
  callback = entry(enqueue_bulk)}
redis.register_function{function_name = 'redjob_claim', callback = entry(claim)}
-- Ack and extend only delete or rewrite what exists, so they may run over
-- maxmemory: acking is how a full Redis frees memory, and renewing keeps a
-- running job from being reclaimed while Redis is full.
redis.register_function{function_name = 'redjob_extend', callback = entry(extend),
  flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_ack', callback = entry(ack),
  flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_fail', callback = entry(failjob)}
redis.register_function{function_name = 'redjob_done', callback = entry(donejob)}
redis.register_function{function_name = 'redjob_release', callback = entry(release)}
redis.register_function{function_name = 'redjob_requeue', callback = entry(requeue)}
redis.register_function{function_name = 'redjob_wake', callback = entry(wakejob)}
redis.register_function{function_name = 'redjob_discard', callback = entry(discard),
  flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_retry', callback = entry(retry)}
redis.register_function{function_name = 'redjob_remove', callback = entry(remove),
  flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_cancel', callback = entry(cancel)}
redis.register_function{function_name = 'redjob_pause', callback = entry(pause)}
redis.register_function{function_name = 'redjob_resume', callback = entry(resume)}
redis.register_function{function_name = 'redjob_stats', callback = entry(stats),
  flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_show', callback = entry(show),
  flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_list', callback = entry(list),
  flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_beat', callback = entry(beat),
  flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_why', callback = entry(why),
  flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_served',
  callback = entry(served), flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_result',
  callback = entry(jobresult), flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_version', callback = entry(version),
  flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_schedule',
  callback = entry(schedule)}
redis.register_function{function_name = 'redjob_tick', callback = entry(tick)}
redis.register_function{function_name = 'redjob_schedules',
  callback = entry(schedules), flags = {'no-writes'}}
