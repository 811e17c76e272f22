---------------------------------------------------------------------------
-- SPDX-License-Identifier: BSD-2-Clause
--
-- Guards: distributed locks with fencing tokens, and rate limiters. The
-- build appends this file to redjob.lua, so it is the same library and
-- uses that file's helpers: fail(), fmt(), int_arg() and entry(); it
-- hands its functions to the claim and the ack through that file's G.
-- docs/guards.md is the contract; keep the two in step.
--
-- Each function takes exactly one key, built by the caller:
--   lock      NS:lock:{NAME}                 (+ ":fence", same hash tag)
--   limiter   NS:limit:{LIMITER:PARTITION}
-- The same rules as redjob.lua hold: TIME is read
-- once, at the top; all input is validated and all state read before the
-- first write (a script error does not roll back); replies hold integers
-- or strings made by fmt(), never nil; every loop is bounded.
--
-- Every limiter answers in the redis-cell shape, in ms:
--   {limited 0|1, limit, remaining, retry_after_ms, reset_after_ms}
-- retry_after_ms is -1 when allowed, and when the request can never be
-- allowed (it costs more than the limiter holds). COST 0 asks without
-- taking anything and writes nothing. A trailing "now MS" pair replaces
-- the server clock in the library built for the tests only (see clock()).
--
-- Integer range: every value computed here stays below 2^53, where Lua's
-- doubles are exact; the bounds on the arguments below see to that.

-- The ranges G_COUNT_MAX, G_PERIOD_MAX, G_TTL_MAX, G_NOW_MAX,
-- G_SCALED_MAX, G_FENCE_MAX and G_WINDOW_MAX come from src/ranges.h: the
-- build defines them just above this file, and the configuration checker
-- uses the same table.
local G_ZADD_CHUNK = 500          -- pairs per ZADD / members per ZREM
local G_SCAN = 200                -- entries per ZRANGE while undoing
-- Whether a trailing "now MS" may replace the clock. Only the copy of the
-- library built for the tests (lua2c.sh -t, tests/tests.am) has it true:
-- in production a caller could claim any time it likes.
local G_TEST_CLOCK = false

-- The server clock in microseconds (2^53 us is in the year 2255).
local function time_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- floor(a / b) and ceil(a / b) for integers 0 <= a < 2^53, 0 < b: the
-- double quotient may round up to the next integer, so correct it.
local function idiv(a, b)
  local q = math.floor(a / b)
  while q > 0 and q * b > a do q = q - 1 end
  while (q + 1) * b <= a do q = q + 1 end
  return q
end

local function cdiv(a, b)
  local q = idiv(a, b)
  if q * b < a then q = q + 1 end
  return q
end

-- ceil(a * b / c) for integers a <= 2^53, b and c <= 2^36, exactly (a * b
-- may be far beyond the 2^53 a double holds): long division of a * b by c
-- with b taken 12 bits at a time, every intermediate below 2^49. Returns
-- cap instead when the answer would exceed it (cap <= 2^52).
local function muldiv_up(a, b, c, cap)
  local q, r = idiv(a, c), 0
  r = a - q * c
  if q > 0 and q > idiv(cap, b) then
    return cap
  end
  local hi = q * b
  -- Now ceil(r * b / c) with r < c <= 2^36: digits of b, high first.
  local digits, d = {}, b
  while d > 0 do
    digits[#digits + 1] = d % 4096
    d = idiv(d, 4096)
  end
  local qq, rr = 0, 0
  for i = #digits, 1, -1 do
    local x = rr * 4096 + digits[i] * r
    local dq = idiv(x, c)
    qq = qq * 4096 + dq
    rr = x - dq * c
  end
  if rr > 0 then
    qq = qq + 1
  end
  return math.min(hi + qq, cap)
end

local function one_key(keys, fname)
  if #keys ~= 1 or #keys[1] == 0 then
    fail('BADKEY', fname .. ' takes exactly one key')
  end
  return keys[1]
end

-- A lock derives KEY:fence, so on Redis Cluster KEY must carry a hash tag:
-- a '{' followed later by a '}' with at least one byte between them.
local function need_hash_tag(key)
  local s = string.find(key, '{', 1, true)
  local e = s and string.find(key, '}', s + 1, true)
  if not e or e == s + 1 then
    fail('BADKEY', 'key "' .. key .. '" has no {hash tag}; its fence ' ..
      'counter KEY:fence must live in the same slot')
  end
end

-- The key must be absent or hold a value of type want. Returns whether
-- it exists.
local function key_type(key, want, what)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then
    return false
  end
  if t ~= want then
    fail('BADKEY', 'key "' .. key .. '" holds a ' .. t .. ', not the ' ..
      want .. ' of ' .. what)
  end
  return true
end

-- A stored integer in [0, 2^53), or a BADKEY error naming the key.
local function stored_int(v, key, what)
  local n = tonumber(v)
  if not n or n ~= math.floor(n) or n < 0 or n >= 2 ^ 53 then
    fail('BADKEY', 'key "' .. key .. '" holds "' .. tostring(v) ..
      '" as ' .. what .. ', not an integer')
  end
  return n
end

local function token_arg(v)
  if not v or #v < 8 or #v > 256 then
    fail('BADARG', 'token must be 8-256 bytes')
  end
  return v
end

-- A window or concurrency member. '#' is reserved: the window names the
-- units of one admission MEMBER#G.K, and undo finds them by that prefix.
local function member_arg(v, window)
  if not v or #v == 0 or #v > 256 then
    fail('BADARG', 'member must be 1-256 bytes')
  end
  if window and string.find(v, '#', 1, true) then
    fail('BADARG', 'member "' .. v .. '" must not contain "#"')
  end
  return v
end

-- The clock of a limiter call: the server's (now_us, read at the top), or
-- the test-only override from a trailing "now MS", which the library
-- refuses unless built for the tests. n is the number of fixed arguments.
-- Returns microseconds.
local function clock(args, n, now_us, fname)
  if #args == n then
    return now_us
  end
  if #args == n + 2 and args[n + 1] == 'now' then
    if not G_TEST_CLOCK then
      fail('BADARG', fname .. ': "now MS" is accepted only by the ' ..
        'library built for the tests; this one reads the server clock')
    end
    return int_arg(args[n + 2], 'now', 0, G_NOW_MAX) * 1000
  end
  fail('BADARG', fname .. ' takes ' .. fmt(n) .. ' arguments' ..
    (G_TEST_CLOCK and ', then optionally "now MS" (for tests)' or ''))
end

-- The limiter reply; every field an integer.
local function verdict(limited, limit, remaining, retry, reset)
  return {limited and 1 or 0, limit, remaining, retry, reset}
end

---------------------------------------------------------------------------
-- Locks.

---------------------------------------------------------------------------
-- The wait list of a lock or of a concurrency limiter, KEY:wait (same
-- hash tag): a zset of waiters, ORDER -> WAITER, that a release makes due
-- first in ORDER (redjob passes a job's id "QUEUE:N" and N). Nothing
-- polls it: a waiter is taken off when it gets the lock or a slot, or
-- handed to the releaser, who wakes it.

-- Validate a "WAITER ORDER" pair.
local function waiter_pair(w, o)
  if #w == 0 or #w > 256 then
    fail('BADARG', 'waiter must be 1-256 bytes')
  end
  return w, int_arg(o, 'order', 0, G_FENCE_MAX)
end

-- Validate the optional "WAITER ORDER" pair of an acquire at args[i].
local function waiter_args(args, i, fname)
  if #args == i - 1 then
    return nil, nil
  end
  if #args ~= i + 1 then
    fail('BADARG', fname .. ' takes TOKEN TTL_MS, then optionally ' ..
      'WAITER ORDER')
  end
  return waiter_pair(args[i], args[i + 1])
end

-- Put a refused waiter in the wait list wkey, unless it is there already
-- (it keeps its place), and keep the list at least keep ms.
local function wait_add(wkey, waiter, order, keep)
  local left = redis.call('PTTL', wkey)
  redis.call('ZADD', wkey, 'NX', order, waiter)
  if left < keep then
    redis.call('PEXPIRE', wkey, keep)
  end
end

-- Pop the first waiter of a lock, or of a concurrency limiter, that is
-- free now, if it has a wait list (waiting: key_type of KEY:wait); '' if
-- none.
local function pop_waiter(key, waiting)
  if not waiting then
    return ''
  end
  local first = redis.call('ZPOPMIN', key .. ':wait')
  return first[1] or ''
end

---------------------------------------------------------------------------
-- redjob_lock_acquire KEY TOKEN TTL_MS [WAITER ORDER]
-- SET KEY TOKEN NX PX TTL_MS, with a fencing token. Returns
--   {1, fence}    acquired; fence (a string of digits) is larger than the
--                 fence of every earlier acquisition of KEY;
--   {0, pttl_ms}  held by another token: its remaining TTL, -1 if none.
-- If KEY already holds TOKEN (a retry after a lost reply), its TTL is set
-- to TTL_MS again and the fence it got is returned, not a new one.
-- The fence is INCR KEY:fence, raised to the server time in microseconds
-- when it is below it, so it still grows after the counter was lost (a
-- restart without persistence, a failover), if the clock did not step
-- back by more than the time since.
-- With WAITER ORDER, a refused caller is put in the wait list KEY:wait
-- (unless it is there already: it keeps its place), which then lives at
-- least as long as the holder's TTL plus TTL_MS; a granted one is taken
-- off it.
local function lock_acquire(keys, args)
  local now_us = time_us()
  local key = one_key(keys, 'redjob_lock_acquire')
  need_hash_tag(key)
  local token = token_arg(args[1])
  local ttl = int_arg(args[2], 'ttl_ms', 1, G_TTL_MAX)
  local waiter, order = waiter_args(args, 3, 'redjob_lock_acquire')
  local fkey = key .. ':fence'
  local wkey = key .. ':wait'
  key_type(key, 'string', 'a lock')
  key_type(fkey, 'string', 'a fence counter')
  local waiting = waiter and key_type(wkey, 'zset', 'a lock wait list')
  local holder = redis.call('GET', key)
  local cur = redis.call('GET', fkey)
  if cur then
    cur = stored_int(cur, fkey, 'the fence')
    if cur > G_FENCE_MAX then
      fail('BADKEY', 'the fence counter ' .. fkey .. ' is at its limit')
    end
  end
  if holder and holder ~= token then
    local pttl = redis.call('PTTL', key)
    if waiter then
      wait_add(wkey, waiter, order, math.max(pttl, 0) + ttl)
    end
    return {0, pttl}
  end

  if waiting then
    redis.call('ZREM', wkey, waiter)
  end
  if holder and cur then
    -- Our own grant, asked again: renew it and answer as before.
    redis.call('PEXPIRE', key, ttl)
    return {1, fmt(cur)}
  end
  -- A new grant (or ours, with its counter lost: then it needs one).
  local fence = (cur or 0) + 1
  if fence < now_us then
    fence = now_us
  end
  redis.call('SET', fkey, fmt(fence))
  redis.call('SET', key, token, 'PX', ttl)
  return {1, fmt(fence)}
end

---------------------------------------------------------------------------
-- redjob_lock_renew KEY TOKEN TTL_MS
-- Compare-and-pexpire: 1 if KEY holds TOKEN (its TTL is now TTL_MS),
-- else 0 (the lock expired or another holder has it).
local function lock_renew(keys, args)
  local key = one_key(keys, 'redjob_lock_renew')
  local token = token_arg(args[1])
  local ttl = int_arg(args[2], 'ttl_ms', 1, G_TTL_MAX)
  if #args ~= 2 then
    fail('BADARG', 'redjob_lock_renew takes TOKEN TTL_MS')
  end
  key_type(key, 'string', 'a lock')
  if redis.call('GET', key) ~= token then
    return 0
  end
  redis.call('PEXPIRE', key, ttl)
  return 1
end

---------------------------------------------------------------------------
-- redjob_lock_release KEY TOKEN [next]
-- Compare-and-delete: 1 if KEY held TOKEN and is now deleted, else 0.
-- The fence counter stays: the next holder's fence must be larger.
-- With "next", returns {1 or 0, WAITER}: the first waiter of KEY:wait,
-- taken off the list, if the lock is now free (released, or expired),
-- else ''. The caller wakes it (another slot: a second call).
local function lock_release(keys, args)
  local key = one_key(keys, 'redjob_lock_release')
  local token = token_arg(args[1])
  local nxt = args[2] == 'next'
  if #args ~= 1 and not (#args == 2 and nxt) then
    fail('BADARG', 'redjob_lock_release takes TOKEN, then optionally ' ..
      '"next"')
  end
  key_type(key, 'string', 'a lock')
  local waiting = nxt and key_type(key .. ':wait', 'zset', 'a lock wait list')
  local holder = redis.call('GET', key)
  local released = 0
  if holder == token then
    redis.call('DEL', key)
    released = 1
  end
  if not nxt then
    return released
  end
  if holder and released == 0 then
    return {0, ''}    -- another's: its release hands the waiter over
  end
  return {released, pop_waiter(key, waiting)}
end

---------------------------------------------------------------------------
-- redjob_lock_next KEY
-- The first waiter of KEY:wait, taken off the list, if the lock is free;
-- else ''. For a releaser whose waiter was gone: it asks for the next.
local function lock_next(keys, args)
  local key = one_key(keys, 'redjob_lock_next')
  if #args ~= 0 then
    fail('BADARG', 'redjob_lock_next takes no arguments')
  end
  local held = key_type(key, 'string', 'a lock')
  local waiting = key_type(key .. ':wait', 'zset', 'a lock wait list')
  if held then
    return ''
  end
  return pop_waiter(key, waiting)
end

---------------------------------------------------------------------------
-- redjob_lock_info KEY [WAITER]   (read-only)
-- Who holds KEY: {holder token or '', its PTTL (-2: not held, -1: no
-- TTL), the last fence given out ('' if none), waiters in KEY:wait, and
-- WAITER's place in it (1 = next; 0: not waiting)}. redjobd's tokens
-- name the holding job after a space (redjob why).
local function lock_info(keys, args)
  local key = one_key(keys, 'redjob_lock_info')
  if #args > 1 then
    fail('BADARG', 'redjob_lock_info takes [WAITER]')
  end
  local held = key_type(key, 'string', 'a lock')
  local waiting = key_type(key .. ':wait', 'zset', 'a lock wait list')
  key_type(key .. ':fence', 'string', 'a fence counter')
  local place = 0
  if waiting and args[1] then
    local r = redis.call('ZRANK', key .. ':wait', args[1])
    place = r and r + 1 or 0
  end
  return {held and redis.call('GET', key) or '',
    held and redis.call('PTTL', key) or -2,
    redis.call('GET', key .. ':fence') or '',
    waiting and redis.call('ZCARD', key .. ':wait') or 0, place}
end

---------------------------------------------------------------------------
-- Sliding window log: a zset with one entry per unit of cost admitted,
-- scored with the time of its admission (ms). An entry counts while
-- score > now - PERIOD_MS. Rejected requests are not recorded.
--
-- The entries of one admission of MEMBER are named MEMBER#G.K for
-- K = 1..COST, except that MEMBER#0.1 is written MEMBER: G = 0 when those
-- names are free, else the first free G from now (ms) on. So names never
-- collide, and undo finds an admission by its prefix "MEMBER#".

local function window_name(m, g, k)
  if g == 0 and k == 1 then
    return m
  end
  return m .. '#' .. fmt(g) .. '.' .. fmt(k)
end

-- Whether the COST names of generation g are free: absent, or held by
-- an expired entry that this call trims before it adds. (Counting an
-- expired name as free keeps the generations of one ms increasing, so
-- the newest name of MEMBER is always its latest admission.)
local function window_free(key, m, g, cost, expired)
  for k = 1, cost do
    local s = redis.call('ZSCORE', key, window_name(m, g, k))
    if s and tonumber(s) > expired then
      return false
    end
  end
  return true
end

-- ZADD score to every name in list, in chunks (unpack has a limit).
local function zadd_all(key, score, names)
  for i = 1, #names, G_ZADD_CHUNK do
    local a = {}
    for j = i, math.min(i + G_ZADD_CHUNK - 1, #names) do
      a[#a + 1] = score
      a[#a + 1] = names[j]
    end
    redis.call('ZADD', key, unpack(a))
  end
end

local function zrem_all(key, names)
  for i = 1, #names, G_ZADD_CHUNK do
    redis.call('ZREM', key, unpack(names, i,
      math.min(i + G_ZADD_CHUNK - 1, #names)))
  end
end

---------------------------------------------------------------------------
-- redjob_limit_window KEY LIMIT PERIOD_MS MEMBER COST [now MS]
-- At most LIMIT units in any PERIOD_MS. Allowed when count + COST <= LIMIT
-- (count = the units of the last PERIOD_MS); then COST entries are added
-- at now and the key expires PERIOD_MS after its newest entry.
-- Refused: retry_after = the time until enough entries leave (the score
-- of the (count + COST - LIMIT)-th oldest + PERIOD_MS - now).
-- reset_after = the time until the newest entry leaves (0 if none).
-- The window decision for COST at now (ms). A request refused now that
-- fits within max_wait ms takes its future slot (limited = 2): its entries
-- are added at that time t, no earlier than the newest entry, so that
-- every interval holding t holds only entries up to t, and count(t) +
-- COST <= LIMIT. max_wait < 0: never (the plain call).
--
-- A server clock that stepped back stands still at the time of the last
-- call that wrote, kept in KEY:clock (same hash tag) for as long as the
-- key lives, until it catches up: answers never go back in time, and a
-- new admission is always the newest entry of its time, as undo expects.
-- Reserved entries in the future count from now on, so nothing admitted
-- now can take their place.
local function window_decide(key, limit, period, m, cost, now, max_wait)
  key_type(key, 'zset', 'a window limiter')
  local ckey = key .. ':clock'
  if key_type(ckey, 'string', 'a window clock') then
    local seen = stored_int(redis.call('GET', ckey), ckey, 'the clock')
    if seen > now then
      now = seen
    end
  end
  local from = '(' .. fmt(now - period)
  local count = redis.call('ZCOUNT', key, from, '+inf')
  local newest = redis.call('ZRANGE', key, '+inf', from, 'BYSCORE', 'REV',
    'LIMIT', 0, 1, 'WITHSCORES')
  local reset = 0
  if newest[2] then
    reset = tonumber(newest[2]) + period - now
  end
  local remaining = math.max(limit - count, 0)

  if cost > limit then
    return {1, limit, remaining, -1, reset}
  end
  local at, limited = now, 0
  if count + cost > limit then
    local kth = redis.call('ZRANGE', key, from, '+inf', 'BYSCORE',
      'LIMIT', count + cost - limit - 1, 1, 'WITHSCORES')
    local retry = tonumber(kth[2]) + period - now
    if cost == 0 or max_wait < 0 or retry > max_wait then
      return {1, limit, remaining, retry, reset}
    end
    at = math.max(now + retry, tonumber(newest[2]))
    if at - now > max_wait then
      return {1, limit, remaining, at - now, reset}
    end
    limited = 2
  end
  if cost == 0 then
    return {0, limit, remaining, -1, reset}
  end

  -- Pick free names: the probe ends within count + 2 tries, since each
  -- taken generation holds a live entry of its own. G = 0 only for the
  -- first admission of its ms: later ones of the same ms get G >= that
  -- ms, one above the last, so undo can tell the latest by its G.
  local g = -1
  local first = redis.call('ZCOUNT', key, at, at) == 0
  for i = (first and 0 or 1), count + 2 do
    local cand = i == 0 and 0 or at + i - 1
    if window_free(key, m, cand, cost, now - period) then
      g = cand
      break
    end
  end
  local names = {}
  for k = 1, cost do
    names[k] = window_name(m, g, k)
  end

  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
  zadd_all(key, at, names)
  reset = math.max(reset, at + period - now)
  redis.call('PEXPIREAT', key, now + reset)
  redis.call('SET', ckey, fmt(now), 'PXAT', now + reset)
  if limited == 2 then
    return {2, limit, 0, at - now, reset}
  end
  return {0, limit, limit - count - cost, -1, reset}
end

local function limit_window(keys, args)
  local now_us = time_us()
  local key = one_key(keys, 'redjob_limit_window')
  local limit = int_arg(args[1], 'limit', 1, G_WINDOW_MAX)
  local period = int_arg(args[2], 'period_ms', 1, G_PERIOD_MAX)
  local m = member_arg(args[3], true)
  local cost = int_arg(args[4], 'cost', 0, G_COUNT_MAX)
  local now = math.floor(clock(args, 4, now_us, 'redjob_limit_window') /
    1000)
  return window_decide(key, limit, period, m, cost, now, -1)
end

---------------------------------------------------------------------------
-- Funnel (leaky bucket): it holds at most CAPACITY units and leaks
-- RATE_COUNT units per RATE_PERIOD_MS, continuously. A request of COST
-- units is allowed when level + COST <= CAPACITY, and then adds COST.
--
-- The level is kept exactly, as an integer in units of 1/RATE_PERIOD_MS:
-- over dt ms it falls by dt * RATE_COUNT, so no leaked credit is ever lost
-- to rounding. The hash holds
--   level  the level x scale   (an integer)
--   ts     the time of level   (ms)
--   scale  RATE_PERIOD_MS when it was written
-- and expires when the funnel is empty.

-- The level at now, scaled by p, from the stored state. Returns the
-- scaled level and the time it refers to (ts, if the clock went back).
-- The level and time of a funnel from its stored fields, leaked to now.
local function funnel_leak(key, level, ts, scale, n, p, now)
  if scale == 0 or scale > G_PERIOD_MAX then
    fail('BADKEY', 'key "' .. key .. '" holds a funnel scale of ' ..
      fmt(scale) .. ', not 1 to 2^36')
  end
  if scale ~= p then
    -- The rate's period changed: convert exactly, rounding up.
    level = muldiv_up(level, p, scale, G_SCALED_MAX * 2)
  end
  if now <= ts then
    return level, ts
  end
  local dt = now - ts
  if dt >= cdiv(level, n) then
    return 0, now
  end
  return level - dt * n, now
end

local function funnel_level(key, n, p, now)
  if not key_type(key, 'hash', 'a funnel limiter') then
    return 0, now
  end
  local f = redis.call('HMGET', key, 'level', 'ts', 'scale')
  return funnel_leak(key, stored_int(f[1], key, 'the funnel level'),
    stored_int(f[2], key, 'the funnel time'),
    stored_int(f[3], key, 'the funnel scale'), n, p, now)
end

---------------------------------------------------------------------------
-- redjob_limit_funnel KEY CAPACITY RATE_COUNT RATE_PERIOD_MS COST [now MS]
-- limit = CAPACITY; remaining = the whole units that still fit;
-- retry_after = the time until COST fits; reset_after = the time until
-- the funnel is empty. COST > CAPACITY can never fit: limited, -1.
--
-- funnel_decide: the funnel decision for COST at now (ms), as gcra_decide: a request
-- refused now that fits within max_wait ms takes its future slot (the
-- level leaked until then; limited = 2); max_wait < 0: never.
-- known_level, known_ts: the caller has read and leaked the level.
local function funnel_decide(key, cap, n, p, cost, now, max_wait,
    known_level, known_ts)
  if cap * p > G_SCALED_MAX then
    fail('BADARG', 'capacity x rate_period_ms must be at most 2^50')
  end
  local cap_s = cap * p
  local level, ts = known_level, known_ts
  if not level then
    level, ts = funnel_level(key, n, p, now)
  end
  local function answer(limited, lvl, at, retry)
    local rem = cap_s > lvl and idiv(cap_s - lvl, p) or 0
    return {limited, cap, rem, retry, at - now + cdiv(lvl, n)}
  end
  if cost > cap then
    return answer(1, level, ts, -1)
  end
  local need = level + cost * p - cap_s
  local wait = need > 0 and ts - now + cdiv(need, n) or -1
  if need > 0 and (cost == 0 or max_wait < 0 or wait > max_wait) then
    return answer(1, level, ts, wait)
  end
  if cost == 0 then
    return answer(0, level, ts, -1)
  end
  local limited = 0
  if need > 0 then
    -- Admitted at ts + cdiv(need, n), the level leaked until then.
    local dt = cdiv(need, n)
    level = math.max(level - dt * n, 0)
    ts = ts + dt
    limited = 2
  end
  level = level + cost * p
  redis.call('HSET', key, 'level', fmt(level), 'ts', fmt(ts),
    'scale', fmt(p))
  redis.call('PEXPIREAT', key, ts + cdiv(level, n))
  return answer(limited, level, ts, limited == 2 and wait or -1)
end

local function limit_funnel(keys, args)
  local now_us = time_us()
  local key = one_key(keys, 'redjob_limit_funnel')
  local cap = int_arg(args[1], 'capacity', 1, G_COUNT_MAX)
  local n = int_arg(args[2], 'rate_count', 1, G_COUNT_MAX)
  local p = int_arg(args[3], 'rate_period_ms', 1, G_PERIOD_MAX)
  local cost = int_arg(args[4], 'cost', 0, G_COUNT_MAX)
  local now = math.floor(clock(args, 4, now_us, 'redjob_limit_funnel') /
    1000)
  return funnel_decide(key, cap, n, p, cost, now, -1)
end

---------------------------------------------------------------------------
-- GCRA, as redis-cell's CL.THROTTLE KEY MAX_BURST COUNT PERIOD [QUANTITY]
-- (brandur/redis-cell src/cell/mod.rs), in microseconds:
--   T     = ceil(RATE_PERIOD_MS * 1000 / RATE_COUNT)   emission interval
--   tau   = T * (BURST + 1)                           tolerance
--   limit = BURST + 1: from idle, BURST + 1 requests pass at once
-- The key holds the theoretical arrival time (TAT) in integer us and
-- expires at the TAT. T is rounded up to a whole us, so the limiter never
-- runs faster than the rate; that error is below 1 us per request.

local function gcra_params(n, p, burst)
  local t = cdiv(p * 1000, n)
  if t * (burst + 1) > G_SCALED_MAX then
    fail('BADARG', 'burst x rate_period_ms / rate_count is over 35 years')
  end
  return t, t * (burst + 1)
end

local function gcra_tat(key)
  if not key_type(key, 'string', 'a GCRA limiter') then
    return nil
  end
  return stored_int(redis.call('GET', key), key, 'the GCRA TAT')
end

---------------------------------------------------------------------------
-- redjob_limit_gcra KEY BURST RATE_COUNT RATE_PERIOD_MS COST [now MS]
--   tat      = GET KEY, or now
--   new_tat  = max(tat, now) + T * COST
--   diff     = now - (new_tat - tau)
--   diff < 0: limited; retry_after = -diff (-1 if T * COST > tau: COST >
--             BURST + 1 never passes); ttl = max(tat, now) - now
--   else:     allowed; SET KEY new_tat, expiring at new_tat;
--             ttl = new_tat - now
--   remaining = floor((tau - ttl) / T) when tau - ttl >= 0, else 0
--   reset_after = ttl
-- Times are returned in ms, rounded up, so a caller never retries early.
-- CL.THROTTLE user123 15 30 60 is FCALL redjob_limit_gcra 1 user123
-- 15 30 60000 1, and its first answer is {0, 16, 15, -1, 2000}.
--
-- gcra_decide: the GCRA decision for COST at now (us). A request refused now that
-- would pass within max_wait us takes its future slot (limited = 2);
-- max_wait < 0: never (the plain call). Returns the five-field answer.
-- known: the caller has read the TAT already (tat, nil if none).
local function gcra_decide(key, burst, n, p, cost, now, max_wait, known, tat)
  local t, tau = gcra_params(n, p, burst)
  if not known then
    tat = gcra_tat(key)
  end
  local base = math.max(tat or now, now)
  local function answer(limited, ttl, retry)
    local nxt = tau - ttl
    local rem = nxt >= 0 and idiv(nxt, t) or 0
    return {limited, burst + 1, rem, retry < 0 and -1 or cdiv(retry, 1000),
      cdiv(ttl, 1000)}
  end
  if cost > burst + 1 then
    return answer(1, base - now, -1)
  end
  local new_tat = base + t * cost
  local diff = now - (new_tat - tau)
  if diff < 0 and (cost == 0 or max_wait < 0 or -diff > max_wait) then
    return answer(1, base - now, -diff)
  end
  if cost > 0 then
    redis.call('SET', key, fmt(new_tat), 'PXAT', cdiv(new_tat, 1000))
  end
  if diff < 0 then
    -- Admitted at now - diff, when new_tat - tau is reached.
    return answer(2, new_tat - now, -diff)
  end
  return answer(0, new_tat - now, -1)
end

local function limit_gcra(keys, args)
  local now_us = time_us()
  local key = one_key(keys, 'redjob_limit_gcra')
  local burst = int_arg(args[1], 'burst', 0, G_COUNT_MAX)
  local n = int_arg(args[2], 'rate_count', 1, G_COUNT_MAX)
  local p = int_arg(args[3], 'rate_period_ms', 1, G_PERIOD_MAX)
  local cost = int_arg(args[4], 'cost', 0, G_COUNT_MAX)
  local now = clock(args, 4, now_us, 'redjob_limit_gcra')
  return gcra_decide(key, burst, n, p, cost, now, -1)
end

---------------------------------------------------------------------------
-- redjob_limit_reserve KEY gcra BURST RATE_COUNT RATE_PERIOD_MS COST
--   MAX_WAIT_MS [now MS]
-- redjob_limit_reserve KEY funnel CAPACITY RATE_COUNT RATE_PERIOD_MS COST
--   MAX_WAIT_MS [now MS]
-- redjob_limit_reserve KEY window LIMIT PERIOD_MS MEMBER COST MAX_WAIT_MS
--   [now MS]
-- As redjob_limit_gcra / _funnel / _window, but a request refused now
-- that would be allowed within MAX_WAIT_MS takes its future slot: the
-- state advances as if it had been admitted at that moment, so the next
-- such request gets the slot after it. The first field is then 2
-- (reserved) and retry_after_ms the time until the slot, rounded up.
-- Otherwise the answer is that of the plain call (0 allowed and taken,
-- 1 refused and nothing taken). A reservation never used wastes its
-- slot once; MAX_WAIT_MS bounds how far ahead the limiter can be taken.
local function limit_reserve(keys, args)
  local now_us = time_us()
  local key = one_key(keys, 'redjob_limit_reserve')
  local kind = args[1]
  if kind == 'gcra' then
    local burst = int_arg(args[2], 'burst', 0, G_COUNT_MAX)
    local n = int_arg(args[3], 'rate_count', 1, G_COUNT_MAX)
    local p = int_arg(args[4], 'rate_period_ms', 1, G_PERIOD_MAX)
    local cost = int_arg(args[5], 'cost', 0, G_COUNT_MAX)
    local max_wait = int_arg(args[6], 'max_wait_ms', 0, G_PERIOD_MAX)
    local now = clock(args, 6, now_us, 'redjob_limit_reserve gcra')
    return gcra_decide(key, burst, n, p, cost, now, max_wait * 1000)
  elseif kind == 'funnel' then
    local cap = int_arg(args[2], 'capacity', 1, G_COUNT_MAX)
    local n = int_arg(args[3], 'rate_count', 1, G_COUNT_MAX)
    local p = int_arg(args[4], 'rate_period_ms', 1, G_PERIOD_MAX)
    local cost = int_arg(args[5], 'cost', 0, G_COUNT_MAX)
    local max_wait = int_arg(args[6], 'max_wait_ms', 0, G_PERIOD_MAX)
    local now = math.floor(clock(args, 6, now_us,
      'redjob_limit_reserve funnel') / 1000)
    return funnel_decide(key, cap, n, p, cost, now, max_wait)
  elseif kind == 'window' then
    local limit = int_arg(args[2], 'limit', 1, G_WINDOW_MAX)
    local period = int_arg(args[3], 'period_ms', 1, G_PERIOD_MAX)
    local m = member_arg(args[4], true)
    local cost = int_arg(args[5], 'cost', 0, G_COUNT_MAX)
    local max_wait = int_arg(args[6], 'max_wait_ms', 0, G_PERIOD_MAX)
    local now = math.floor(clock(args, 6, now_us,
      'redjob_limit_reserve window') / 1000)
    return window_decide(key, limit, period, m, cost, now, max_wait)
  end
  fail('BADARG', 'kind must be gcra, funnel or window, not "' ..
    tostring(kind) .. '"')
end

---------------------------------------------------------------------------
-- Concurrency: a zset of holders, MEMBER -> lease deadline (ms). A holder
-- whose deadline has passed holds nothing (a crashed worker's slot frees
-- itself). The key expires with its last lease.

-- The key's expiry once MEMBER's lease ends at deadline: the last live
-- lease of the holders, MEMBER's new one included. Read before writing.
local function conc_deadline(key, m, now, deadline)
  local top = redis.call('ZRANGE', key, '+inf', '(' .. fmt(now), 'BYSCORE',
    'REV', 'LIMIT', 0, 2, 'WITHSCORES')
  for i = 1, #top, 2 do
    if top[i] ~= m then
      return math.max(tonumber(top[i + 1]), deadline)
    end
  end
  return deadline
end

---------------------------------------------------------------------------
-- redjob_limit_conc_acquire KEY LIMIT LEASE_MS MEMBER [WAITER ORDER]
--   [now MS]
-- Allowed when MEMBER already holds a slot (its lease is renewed) or
-- fewer than LIMIT hold one (MEMBER takes one until now + LEASE_MS).
-- Refused: retry_after = the earliest lease end - now, an upper bound,
-- since a holder may release sooner. remaining = LIMIT - holders;
-- reset_after = the time until the last lease ends.
-- With WAITER ORDER, a refused caller is put in the wait list KEY:wait
-- as a lock's is (unless it is there already: it keeps its place), which
-- then lives at least until the last lease ends plus LEASE_MS; a granted
-- one is taken off it. A release with "next" hands the first waiter over.
local function limit_conc_acquire(keys, args)
  local now_us = time_us()
  local fname = 'redjob_limit_conc_acquire'
  local key = one_key(keys, fname)
  local limit = int_arg(args[1], 'limit', 1, G_COUNT_MAX)
  local lease = int_arg(args[2], 'lease_ms', 1, G_PERIOD_MAX)
  local m = member_arg(args[3], false)
  local waiter, order
  local n = 3
  if #args == 4 or #args == 6 then
    fail('BADARG', fname .. ' takes LIMIT LEASE_MS MEMBER, then ' ..
      'optionally WAITER ORDER')
  end
  if #args >= 5 and args[4] ~= 'now' then
    waiter, order = waiter_pair(args[4], args[5])
    n = 5
  end
  local now = math.floor(clock(args, n, now_us, fname) / 1000)
  local wkey = key .. ':wait'
  key_type(key, 'zset', 'a concurrency limiter')
  local waiting = waiter and key_type(wkey, 'zset',
    'a concurrency wait list')
  local live = '(' .. fmt(now)
  local count = redis.call('ZCOUNT', key, live, '+inf')
  local mine = tonumber(redis.call('ZSCORE', key, m))
  local holds = mine and mine > now
  local last = redis.call('ZRANGE', key, '+inf', live, 'BYSCORE', 'REV',
    'LIMIT', 0, 1, 'WITHSCORES')
  local reset = last[2] and tonumber(last[2]) - now or 0

  if not holds and count >= limit then
    local first = redis.call('ZRANGE', key, live, '+inf', 'BYSCORE',
      'LIMIT', 0, 1, 'WITHSCORES')
    if waiter then
      wait_add(wkey, waiter, order, reset + lease)
    end
    return verdict(true, limit, math.max(limit - count, 0),
      tonumber(first[2]) - now, reset)
  end
  if waiting then
    redis.call('ZREM', wkey, waiter)
  end
  if not holds then
    count = count + 1
  end
  local expiry = conc_deadline(key, m, now, now + lease)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, now + lease, m)
  redis.call('PEXPIREAT', key, expiry)
  return verdict(false, limit, math.max(limit - count, 0), -1, expiry - now)
end

---------------------------------------------------------------------------
-- redjob_limit_conc_renew KEY LEASE_MS MEMBER [now MS]
-- 1 if MEMBER holds a live slot (its lease now ends now + LEASE_MS),
-- else 0: its lease ran out, and the slot may be someone else's.
local function limit_conc_renew(keys, args)
  local now_us = time_us()
  local key = one_key(keys, 'redjob_limit_conc_renew')
  local lease = int_arg(args[1], 'lease_ms', 1, G_PERIOD_MAX)
  local m = member_arg(args[2], false)
  local now = math.floor(clock(args, 2, now_us, 'redjob_limit_conc_renew') /
    1000)
  key_type(key, 'zset', 'a concurrency limiter')
  local mine = tonumber(redis.call('ZSCORE', key, m))
  if not mine or mine <= now then
    return 0
  end
  local expiry = conc_deadline(key, m, now, now + lease)
  redis.call('ZADD', key, now + lease, m)
  redis.call('PEXPIREAT', key, expiry)
  return 1
end

---------------------------------------------------------------------------
-- redjob_limit_conc_release KEY MEMBER [next] [now MS]
-- Frees MEMBER's slot. 1 if it held a live one, else 0.
-- With "next", returns {1 or 0, WAITER}: the first waiter of KEY:wait,
-- taken off the list, if this release freed a live slot, else '' (a
-- lease that ran out freed its slot unseen: the waiters come back at
-- their fallback due time). The caller wakes it (another slot: a second
-- call), and asks redjob_limit_conc_next if it is gone.
local function limit_conc_release(keys, args)
  local now_us = time_us()
  local fname = 'redjob_limit_conc_release'
  local key = one_key(keys, fname)
  local m = member_arg(args[1], false)
  local nxt = args[2] == 'next'
  local now = math.floor(clock(args, nxt and 2 or 1, now_us, fname) / 1000)
  key_type(key, 'zset', 'a concurrency limiter')
  local waiting = nxt and key_type(key .. ':wait', 'zset',
    'a concurrency wait list')
  local mine = tonumber(redis.call('ZSCORE', key, m))
  local released = 0
  if mine then
    redis.call('ZREM', key, m)
    released = mine > now and 1 or 0
  end
  if not nxt then
    return released
  end
  if released == 0 then
    return {0, ''}
  end
  return {1, pop_waiter(key, waiting)}
end

---------------------------------------------------------------------------
-- redjob_limit_conc_next KEY LIMIT [now MS]
-- The first waiter of KEY:wait, taken off the list, if fewer than LIMIT
-- hold a live slot; else ''. For a releaser whose waiter was gone: it
-- asks for the next.
local function limit_conc_next(keys, args)
  local now_us = time_us()
  local fname = 'redjob_limit_conc_next'
  local key = one_key(keys, fname)
  local limit = int_arg(args[1], 'limit', 1, G_COUNT_MAX)
  local now = math.floor(clock(args, 1, now_us, fname) / 1000)
  key_type(key, 'zset', 'a concurrency limiter')
  local waiting = key_type(key .. ':wait', 'zset', 'a concurrency wait list')
  if redis.call('ZCOUNT', key, '(' .. fmt(now), '+inf') >= limit then
    return ''
  end
  return pop_waiter(key, waiting)
end

---------------------------------------------------------------------------
-- redjob_limit_undo KEY KIND ARG... [now MS]
-- Gives back what an allowed call took, when a later guard of the same
-- job refuses, so a throttled job spends nothing from the other limiters.
--   window MEMBER                                  removes the entries of
--          MEMBER's latest admission
--   gcra RATE_COUNT RATE_PERIOD_MS COST            tat -= T * COST, not
--          below now
--   funnel CAPACITY RATE_COUNT RATE_PERIOD_MS COST level -= COST, not
--          below 0
--   concurrency MEMBER                             as conc_release
-- Returns 1 if something was given back, else 0.
local function limit_undo(keys, args)
  local now_us = time_us()
  local key = one_key(keys, 'redjob_limit_undo')
  local kind = args[1]
  local rest = {}
  for i = 2, #args do
    rest[#rest + 1] = args[i]
  end

  if kind == 'window' then
    local m = member_arg(rest[1], true)
    clock(rest, 1, now_us, 'redjob_limit_undo window')
    if not key_type(key, 'zset', 'a window limiter') then
      return 0
    end
    -- The latest admission of m is its newest entry (all of one
    -- admission share one score): scan from the newest.
    local total = redis.call('ZCARD', key)
    local found
    local prefix = m .. '#'
    for off = 0, total - 1, G_SCAN do
      local batch = redis.call('ZRANGE', key, '+inf', '-inf', 'BYSCORE',
        'REV', 'LIMIT', off, G_SCAN)
      for _, name in ipairs(batch) do
        if name == m or string.sub(name, 1, #prefix) == prefix then
          found = name
          break
        end
      end
      if found or #batch < G_SCAN then break end
    end
    if not found then
      return 0
    end
    -- Of m's admissions at that score, the latest has the largest G.
    local function gen(name)
      if name == m then return 0 end
      return tonumber(string.match(name, '#(%d+)%.%d+$')) or -1
    end
    local s = redis.call('ZSCORE', key, found)
    local same = redis.call('ZRANGE', key, s, s, 'BYSCORE')
    local g = gen(found)
    for _, name in ipairs(same) do
      if (name == m or string.sub(name, 1, #prefix) == prefix) and
          gen(name) > g then
        g = gen(name)
        found = name
      end
    end
    local names = {found}
    for k = 1, total do
      local name = window_name(m, g, k)
      if not redis.call('ZSCORE', key, name) then break end
      if name ~= found then names[#names + 1] = name end
    end
    zrem_all(key, names)
    return 1

  elseif kind == 'gcra' then
    local n = int_arg(rest[1], 'rate_count', 1, G_COUNT_MAX)
    local p = int_arg(rest[2], 'rate_period_ms', 1, G_PERIOD_MAX)
    local cost = int_arg(rest[3], 'cost', 0, G_COUNT_MAX)
    local now = clock(rest, 3, now_us, 'redjob_limit_undo gcra')
    local t = gcra_params(n, p, 0)
    local tat = gcra_tat(key)
    if not tat or tat <= now or cost == 0 then
      return 0
    end
    local new_tat = math.max(tat - t * cost, now)
    if new_tat == now then
      redis.call('DEL', key)
    else
      redis.call('SET', key, fmt(new_tat), 'PXAT', cdiv(new_tat, 1000))
    end
    return 1

  elseif kind == 'funnel' then
    local cap = int_arg(rest[1], 'capacity', 1, G_COUNT_MAX)
    local n = int_arg(rest[2], 'rate_count', 1, G_COUNT_MAX)
    local p = int_arg(rest[3], 'rate_period_ms', 1, G_PERIOD_MAX)
    local cost = int_arg(rest[4], 'cost', 0, G_COUNT_MAX)
    local now = math.floor(clock(rest, 4, now_us, 'redjob_limit_undo funnel')
      / 1000)
    if cap * p > G_SCALED_MAX then
      fail('BADARG', 'capacity x rate_period_ms must be at most 2^50')
    end
    local level, ts = funnel_level(key, n, p, now)
    if level == 0 or cost == 0 then
      return 0
    end
    level = math.max(level - cost * p, 0)
    if level == 0 then
      redis.call('DEL', key)
    else
      redis.call('HSET', key, 'level', fmt(level), 'ts', fmt(ts),
        'scale', fmt(p))
      redis.call('PEXPIREAT', key, ts + cdiv(level, n))
    end
    return 1

  elseif kind == 'concurrency' then
    local m = member_arg(rest[1], false)
    clock(rest, 1, now_us, 'redjob_limit_undo concurrency')
    key_type(key, 'zset', 'a concurrency limiter')
    return redis.call('ZREM', key, m)
  end
  fail('BADARG', 'kind must be window, gcra, funnel or concurrency, not "' ..
    tostring(kind) .. '"')
end

-- Renewals, releases and undos only shorten, delete or rewrite what
-- exists, so they may run over maxmemory, as ack and extend do: a full
-- Redis must still let a holder keep or give back what it holds.
---------------------------------------------------------------------------
-- For the claim and the ack (redjob.lua, "Guards in the claim"): the
-- usual case of lock_acquire, lock_release "next" and
-- limit_conc_release "next", in a third of the commands (no TYPE: a
-- command on a key of another type fails, and is caught). Each does what
-- the full function would, or returns nil having left nothing written,
-- and then the caller calls the full function, which answers or refuses
-- as documented.

-- A free lock whose fence counter is absent or holds a fence: SET NX,
-- the new fence swapped in with SET GET, the waiter off the wait list.
-- now_us is the caller's clock (its TIME). Returns {1, fence} or nil.
-- Undo lock_acquire_fast's writes: the fence back to old (nil: none),
-- and the lock's key.
local function lock_acquire_undo(key, fkey, old)
  if old then
    redis.call('SET', fkey, old)
  else
    redis.call('DEL', fkey)
  end
  redis.call('DEL', key)
end

-- now_us_s: now_us formatted, if the caller has it (a claim's jobs share
-- it).
local function lock_acquire_fast(key, token, ttl, waiter, now_us, now_us_s)
  local s = string.find(key, '{', 1, true)
  local e = s and string.find(key, '}', s + 1, true)
  local t = tonumber(ttl)
  if not e or e == s + 1 or #token < 8 or #token > 256 or not t or
      t ~= math.floor(t) or t < 1 or t > G_TTL_MAX then
    return nil
  end
  if not redis.call('SET', key, token, 'NX', 'PX', ttl) then
    return nil    -- held (or not a string): lock_acquire answers
  end
  local fkey = key .. ':fence'
  now_us_s = now_us_s or fmt(now_us)
  local old = redis.pcall('SET', fkey, now_us_s, 'GET')
  local cur = old and tonumber(old)
  if type(old) == 'table' then
    redis.call('DEL', key)    -- not a string: nothing else was written
    return nil
  end
  if old and (not cur or cur ~= math.floor(cur) or cur < 0 or
      cur > G_FENCE_MAX) then
    lock_acquire_undo(key, fkey, old)
    return nil
  end
  local fence = now_us_s
  if cur and cur + 1 > now_us then
    fence = fmt(cur + 1)
    redis.call('SET', fkey, fence)
  end
  if waiter then
    local z = redis.pcall('ZREM', key .. ':wait', waiter)
    if type(z) == 'table' then
      lock_acquire_undo(key, fkey, old)
      return nil
    end
  end
  return {1, fence}
end

-- Release a lock held by token and pop its first waiter if the lock is
-- free. Returns the waiter ('' if none), or nil if the lock's key is not
-- a string (nothing written). A wait list of another type holds no
-- waiter: the release stands.
local function lock_release_fast(key, token)
  local h = redis.pcall('GET', key)
  if type(h) == 'table' then
    return nil
  end
  if h and h ~= token then
    return ''     -- another's: its release hands the waiter over
  end
  if h then
    redis.call('DEL', key)
  end
  local w = redis.pcall('ZPOPMIN', key .. ':wait')
  return not w.err and w[1] or ''
end

-- Give back member's concurrency slot; if it was live, pop the first
-- waiter. now is the caller's clock (ms). Returns the waiter ('' if
-- none), or nil if the key is not a sorted set (nothing written).
local function conc_release_fast(key, m, now)
  local d = redis.pcall('ZSCORE', key, m)
  if type(d) == 'table' then
    return nil
  end
  if not d then
    return ''
  end
  redis.call('ZREM', key, m)
  if tonumber(d) <= now then
    return ''     -- its lease had run out: the slot was freed unseen
  end
  local w = redis.pcall('ZPOPMIN', key .. ':wait')
  return not w.err and w[1] or ''
end

-- An integer argument in [lo, hi], or nil (the full function refuses it).
local function fast_int(v, lo, hi)
  local n = tonumber(v)
  if not n or n ~= math.floor(n) or n < lo or n > hi then
    return nil
  end
  return n
end

-- A window's clock at the caller's now (ms): the later of now and the
-- latest time the window has used (KEY:clock); nil when that key is not
-- a whole number (or not a string): the function's own code answers.
local function window_now(key, now)
  local seen = redis.pcall('GET', key .. ':clock')
  if type(seen) == 'table' then
    return nil
  end
  if seen then
    seen = fast_int(seen, 0, 2 ^ 53 - 1)
    if not seen then
      return nil
    end
    now = math.max(now, seen)
  end
  return now
end

---------------------------------------------------------------------------
-- For the claim (redjob.lua, guard_take_all): the limiters of all the
-- jobs of one claim, read once and written once. The first job under a
-- limiter key reads its state, with reads that fail on a key of another
-- type instead of a TYPE first; each job is then decided in Lua, in
-- order, exactly as redjob_limit_reserve and redjob_limit_conc_acquire
-- would decide it one call after the other, with the claim's clock; the
-- state is written back once, after the last job (cache_flush): the same
-- answers and the same final state, in a few commands for them all
-- instead of a few per job. A case these do not decide (a window or a
-- concurrency limit that refuses, odd values, a key of another type)
-- answers nil: the caller writes the key back and drops it (cache_flush)
-- and calls the full function, which sees what the jobs before it left.
--
-- c: {now = ms, now_us = us, st = {KEY -> state}, keys = {KEY...}}. A
-- state has its kind ('gcra', 'funnel', 'window', 'conc', or 'slow' for a
-- key that only the full function may answer in this claim, 'full' for a
-- window or concurrency limit that refused) and dirty when it has
-- something to write. The answers have the shape of a limiter's:
-- {limited, -, -, retry_after_ms}.
local CACHE_OK = {0, 0, 0, -1}
-- Longer than a listpack entry: see cache_flush. No member of a
-- concurrency limit is made of dashes alone (they are "QUEUE:N:TOKEN").
local G_WIDE = '----------------------------------------' ..
  '----------------------------------------'

local function cache_new(now, now_us)
  return {now = now, now_us = now_us, now_us_s = fmt(now_us), st = {},
    keys = {}}
end

local function cache_put(c, key, s)
  c.st[key] = s
  c.keys[#c.keys + 1] = key
  return s
end

-- The numbers of a limiter item of a claim's spec ({'L', NAME, KIND,
-- TEMPLATE, P...}, redjob.lua guard_spec), checked once and kept in the
-- item: false if the full function must answer (it refuses them).
-- max_wait: the claim's reservation bound, ms.
local function cache_params(l, max_wait)
  if l.p ~= nil then
    return l.p
  end
  local p, w = false, fast_int(max_wait, 0, G_PERIOD_MAX)
  if l[3] == 'gcra' then
    local b = fast_int(l[5], 0, G_COUNT_MAX)
    local n = fast_int(l[6], 1, G_COUNT_MAX)
    local per = fast_int(l[7], 1, G_PERIOD_MAX)
    if b and n and per and w then
      local t = cdiv(per * 1000, n)
      if t * (b + 1) <= G_SCALED_MAX then
        p = {t = t, tau = t * (b + 1), w = w * 1000}
      end
    end
  elseif l[3] == 'funnel' then
    local cap = fast_int(l[5], 1, G_COUNT_MAX)
    local n = fast_int(l[6], 1, G_COUNT_MAX)
    local per = fast_int(l[7], 1, G_PERIOD_MAX)
    if cap and n and per and w and cap * per <= G_SCALED_MAX then
      p = {n = n, per = per, cap_s = cap * per, w = w}
    end
  elseif l[3] == 'window' then
    local lim = fast_int(l[5], 1, G_WINDOW_MAX)
    local per = fast_int(l[6], 1, G_PERIOD_MAX)
    if lim and per then
      p = {lim = lim, per = per}
    end
  elseif l[3] == 'concurrency' then
    local lim = fast_int(l[5], 1, G_COUNT_MAX)
    local lease = fast_int(l[6], 1, G_PERIOD_MAX)
    if lim and lease then
      p = {lim = lim, lease = lease}
    end
  end
  l.p = p
  return p
end

-- GCRA: the TAT, read with one GET.
local function cache_gcra(c, key, p)
  local s = c.st[key]
  if not s then
    local v = redis.pcall('GET', key)
    local tat = v and tonumber(v)
    if type(v) == 'table' or (v and (not tat or tat ~= math.floor(tat) or
        tat < 0 or tat >= 2 ^ 53)) then
      s = cache_put(c, key, {kind = 'slow'})
    else
      s = cache_put(c, key, {kind = 'gcra', tat = tat})
    end
  end
  if s.kind ~= 'gcra' then
    return nil
  end
  -- gcra_decide with COST 1 and max_wait.
  local now = c.now_us
  local new_tat = math.max(s.tat or now, now) + p.t
  local diff = now - (new_tat - p.tau)
  if diff < 0 and -diff > p.w then
    return {1, 0, 0, cdiv(-diff, 1000)}
  end
  s.tat, s.dirty = new_tat, true
  if diff < 0 then
    return {2, 0, 0, cdiv(-diff, 1000)}
  end
  return CACHE_OK
end

-- Funnel: its fields, read with one HMGET (and an EXISTS when it has
-- none: a funnel that is not there is empty, a hash without them is not
-- a funnel's), leaked to now once.
local function cache_funnel(c, key, p)
  local s = c.st[key]
  if not s then
    local f = redis.pcall('HMGET', key, 'level', 'ts', 'scale')
    s = {kind = 'slow'}
    if not f.err and not f[1] and not f[2] and not f[3] then
      if redis.pcall('EXISTS', key) == 0 then
        s = {kind = 'funnel', level = 0, ts = c.now, n = p.n,
          per = p.per}
      end
    elseif not f.err then
      local level = f[1] and fast_int(f[1], 0, 2 ^ 53 - 1)
      local ts = f[2] and fast_int(f[2], 0, 2 ^ 53 - 1)
      local scale = f[3] and fast_int(f[3], 1, G_PERIOD_MAX)
      if level and ts and scale then
        level, ts = funnel_leak(key, level, ts, scale, p.n, p.per, c.now)
        s = {kind = 'funnel', level = level, ts = ts, n = p.n,
          per = p.per}
      end
    end
    cache_put(c, key, s)
  end
  if s.kind ~= 'funnel' or s.n ~= p.n or s.per ~= p.per then
    return nil
  end
  -- funnel_decide with COST 1 and max_wait.
  local need = s.level + p.per - p.cap_s
  local wait = need > 0 and s.ts - c.now + cdiv(need, p.n) or -1
  if need > 0 and wait > p.w then
    return {1, 0, 0, wait}
  end
  if need > 0 then
    local dt = cdiv(need, p.n)
    s.level = math.max(s.level - dt * p.n, 0)
    s.ts = s.ts + dt
  end
  s.level, s.dirty, s.del = s.level + p.per, true, nil
  if need > 0 then
    return {2, 0, 0, wait}
  end
  return CACHE_OK
end

-- Window: its clock, count, newest entry and the entries of this ms,
-- read once; each admission's name as window_decide gives it (the bare
-- member for the first of its ms), added with one ZADD at the end.
local function cache_window(c, key, p, m)
  local s = c.st[key]
  if not s then
    s = cache_put(c, key, {kind = 'slow'})
    local now = window_now(key, c.now)
    if not now then
      return nil
    end
    local from = '(' .. fmt(now - p.per)
    local count = redis.pcall('ZCOUNT', key, from, '+inf')
    if type(count) ~= 'number' then
      return nil
    end
    local newest = redis.call('ZRANGE', key, '+inf', from, 'BYSCORE',
      'REV', 'LIMIT', 0, 1, 'WITHSCORES')
    s.kind, s.now, s.per, s.count = 'window', now, p.per, count
    s.newest = newest[2] and tonumber(newest[2])
    s.at_now = redis.call('ZCOUNT', key, now, now)
    s.names, s.sfx = {}, '#' .. fmt(now) .. '.1'
  end
  if s.kind ~= 'window' or s.per ~= p.per or s.count + 1 > p.lim or
      #m == 0 or #m > 256 or string.find(m, '#', 1, true) then
    return nil
  end
  -- window_name(m, now, 1) but for the first of its ms.
  local name = s.at_now > 0 and m .. s.sfx or m
  s.names[#s.names + 1] = name
  s.count, s.at_now, s.dirty = s.count + 1, s.at_now + 1, true
  return CACHE_OK
end

-- Concurrency: the live holders and the last lease, read once; the new
-- holders added with one ZADD at the end. waiter: the job's id if it may
-- be in the wait list (it was held back before), else nil.
local function cache_conc(c, key, p, m, waiter)
  local s = c.st[key]
  if not s then
    local live = '(' .. fmt(c.now)
    local count = redis.pcall('ZCOUNT', key, live, '+inf')
    if type(count) ~= 'number' then
      s = cache_put(c, key, {kind = 'slow'})
    else
      local last = redis.call('ZRANGE', key, '+inf', live, 'BYSCORE',
        'REV', 'LIMIT', 0, 1, 'WITHSCORES')
      s = cache_put(c, key, {kind = 'conc', count = count,
        expiry = last[2] and tonumber(last[2]) or 0, adds = {}})
    end
  end
  if s.kind ~= 'conc' or s.count >= p.lim or #m == 0 or #m > 256 then
    return nil
  end
  if waiter then
    local z = redis.pcall('ZREM', key .. ':wait', waiter)
    if type(z) == 'table' then
      return nil
    end
  end
  local d = c.now + p.lease
  if s.d ~= d then
    s.d, s.ds = d, fmt(d)
  end
  s.adds[#s.adds + 1] = s.ds
  s.adds[#s.adds + 1] = m
  s.count, s.dirty = s.count + 1, true
  s.expiry = math.max(s.expiry, d)
  return CACHE_OK
end

-- Give back in the cache what a job took from the limiter l at key, as
-- limit_undo would; false if that is for the full function (the caller
-- then writes the key back first). m: the job's member.
local function cache_undo(c, key, l, m)
  local s, p = c.st[key], l.p
  if not s or not p then
    return false
  end
  if s.kind == 'gcra' then
    local now = c.now_us
    if s.tat and s.tat > now then
      local t = s.tat - p.t
      if t > now then
        s.tat = t
      else
        s.tat, s.del = nil, true
      end
      s.dirty = true
    end
    return true
  elseif s.kind == 'funnel' and s.n == p.n and s.per == p.per then
    local level, ts = funnel_leak(key, s.level, s.ts, p.per, p.n, p.per,
      c.now)
    if level > 0 then
      level = math.max(level - p.per, 0)
      if level == 0 then
        s.level, s.ts, s.del = 0, c.now, true
      else
        s.level, s.ts = level, ts
      end
      s.dirty = true
    end
    return true
  elseif s.kind == 'window' then
    -- The job's admission, not yet written (the newest of its names):
    -- as if never made.
    for i = #s.names, 1, -1 do
      if s.names[i] == m or s.names[i] == m .. s.sfx then
        table.remove(s.names, i)
        s.count, s.at_now = s.count - 1, s.at_now - 1
        return true
      end
    end
  end
  return false
end

-- Write back what the jobs of the claim did to key, with the commands
-- their calls one by one would have run, once, and forget it (a key marked
-- 'slow' is kept: only the full function answers it in this claim).
-- full: a window or concurrency limit is about to refuse with the full
-- function: later jobs of the claim go straight to it.
local function cache_flush(c, key, full)
  local s = c.st[key]
  if not s or s.kind == 'slow' then
    return
  end
  if s.dirty then
    if s.kind == 'gcra' then
      if s.tat then
        redis.call('SET', key, fmt(s.tat), 'PXAT', cdiv(s.tat, 1000))
      else
        redis.call('DEL', key)
      end
    elseif s.kind == 'funnel' then
      if s.del then
        redis.call('DEL', key)
      else
        redis.call('HSET', key, 'level', fmt(s.level), 'ts', fmt(s.ts),
          'scale', fmt(s.per))
        redis.call('PEXPIREAT', key, s.ts + cdiv(s.level, s.n))
      end
    elseif s.kind == 'window' then
      local reset = math.max(s.newest and s.newest + s.per - s.now or 0,
        s.per)
      redis.call('ZREMRANGEBYSCORE', key, '-inf', s.now - s.per)
      if #s.names > 0 then
        zadd_all(key, s.now, s.names)
      end
      redis.call('PEXPIREAT', key, s.now + reset)
      redis.call('SET', key .. ':clock', fmt(s.now), 'PXAT', s.now + reset)
    elseif s.kind == 'conc' then
      -- With a member too long for a listpack (zset-max-listpack-value,
      -- 64 bytes by default) among the new ones, removed at once, the
      -- holders are kept in a skiplist, and Redis keeps that encoding
      -- while the key lives: a listpack is walked end to end by every
      -- ZADD, ZCOUNT and ZREM of a holder, and a limit's holders are
      -- often near its 128 entries (docs/performance.md).
      redis.call('ZREMRANGEBYSCORE', key, '-inf', c.now)
      redis.call('ZADD', key, 0, G_WIDE)
      for i = 1, #s.adds, 2 * G_ZADD_CHUNK do
        redis.call('ZADD', key, unpack(s.adds, i,
          math.min(i + 2 * G_ZADD_CHUNK - 1, #s.adds)))
      end
      redis.call('ZREM', key, G_WIDE)
      redis.call('PEXPIREAT', key, s.expiry)
    end
  end
  if full and (s.kind == 'window' or s.kind == 'conc' or
      s.kind == 'full') then
    c.st[key] = {kind = 'full'}
  else
    c.st[key] = nil
  end
end

local function cache_flush_all(c)
  for _, key in ipairs(c.keys) do
    cache_flush(c, key)
  end
end

G.cache_new = cache_new
G.cache_params = cache_params
G.cache_gcra = cache_gcra
G.cache_funnel = cache_funnel
G.cache_window = cache_window
G.cache_conc = cache_conc
G.cache_undo = cache_undo
G.cache_flush = cache_flush
G.cache_flush_all = cache_flush_all
G.lock_acquire_fast = lock_acquire_fast
G.lock_release_fast = lock_release_fast
G.conc_release_fast = conc_release_fast
G.lock_acquire = lock_acquire
G.lock_release = lock_release
G.lock_next = lock_next
G.limit_reserve = limit_reserve
G.limit_conc_acquire = limit_conc_acquire
G.limit_conc_release = limit_conc_release
G.limit_conc_next = limit_conc_next
G.limit_undo = limit_undo

redis.register_function{function_name = 'redjob_lock_acquire',
  callback = entry(lock_acquire)}
redis.register_function{function_name = 'redjob_lock_renew',
  callback = entry(lock_renew), flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_lock_release',
  callback = entry(lock_release), flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_lock_next',
  callback = entry(lock_next), flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_lock_info',
  callback = entry(lock_info), flags = {'no-writes'}}
redis.register_function{function_name = 'redjob_limit_window',
  callback = entry(limit_window)}
redis.register_function{function_name = 'redjob_limit_funnel',
  callback = entry(limit_funnel)}
redis.register_function{function_name = 'redjob_limit_gcra',
  callback = entry(limit_gcra)}
redis.register_function{function_name = 'redjob_limit_reserve',
  callback = entry(limit_reserve)}
redis.register_function{function_name = 'redjob_limit_conc_acquire',
  callback = entry(limit_conc_acquire)}
redis.register_function{function_name = 'redjob_limit_conc_renew',
  callback = entry(limit_conc_renew), flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_limit_conc_release',
  callback = entry(limit_conc_release), flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_limit_conc_next',
  callback = entry(limit_conc_next), flags = {'allow-oom'}}
redis.register_function{function_name = 'redjob_limit_undo',
  callback = entry(limit_undo), flags = {'allow-oom'}}
