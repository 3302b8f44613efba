package redisstore

// Every change to a thread is one Lua script, so it is atomic: Redis runs a
// script to its end before any other command, no reader sees half of a
// put, and a check (parent exists, parent is the head) and the write that
// depends on it cannot be separated by another client's write. A script
// checks everything that can fail before its first write, because Redis
// does not roll back a script that stops half-way.
//
// KEYS of the thread scripts are the thread's keys in threadKind order
// (1 cp, 2 md, 3 ord, 4 ids, 5 bl, 6 wr, 7 wx) followed by the global index
// (8). Members and fields are built by keys.go; the scripts only take them
// apart where they must (the id is the last 26 bytes of F, the namespace
// key what comes before it).

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

const luaPrelude = `
local function delmany(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end

-- HMGET in chunks: unpack of a very long list overflows Lua's stack
local function hmget(key, list)
  local out = {}
  for i = 1, #list, 1000 do
    local part = redis.call('HMGET', key, unpack(list, i, math.min(i + 999, #list)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end

-- the blob fields a cp value lists, or nil when the value is malformed
local function blobfields(v)
  if #v < 5 or string.byte(v, 1) ~= 1 then return nil end
  local n = ((string.byte(v, 2) * 256 + string.byte(v, 3)) * 256 + string.byte(v, 4)) * 256 + string.byte(v, 5)
  local out, i, stop = {}, 6, 5 + n
  if stop > #v then return nil end
  while i <= stop do
    if i + 1 > stop then return nil end
    local m = string.byte(v, i) * 256 + string.byte(v, i + 1)
    if i + 1 + m > stop then return nil end
    out[#out + 1] = string.sub(v, i + 2, i + 1 + m)
    i = i + 2 + m
  end
  return out
end

-- the range bound just past every member that starts with f (f ends with
-- a ULID character, never 0xff)
local function pastf(f)
  return '(' .. string.sub(f, 1, #f - 1) .. string.char(string.byte(f, #f) + 1)
end

local function writesof(f)
  return redis.call('ZRANGEBYLEX', KEYS[7], '[' .. f, pastf(f))
end

-- drop removes one checkpoint, its metadata, index entries and writes
-- (not its blobs: see sweep); returns the number of writes removed.
local function drop(tl, f)
  local ns, id = string.sub(f, 3, #f - 26), string.sub(f, #f - 25)
  redis.call('HDEL', KEYS[1], f)
  redis.call('HDEL', KEYS[2], f)
  redis.call('ZREM', KEYS[3], f)
  redis.call('ZREM', KEYS[4], id .. ns)
  redis.call('ZREM', KEYS[8], id .. tl .. ns)
  local ws = writesof(f)
  if #ws > 0 then
    delmany('HDEL', KEYS[6], ws)
    delmany('ZREM', KEYS[7], ws)
  end
  return #ws
end

-- referenced returns the set of blob fields read by the checkpoints not
-- in dead, or nil and the field of a malformed cp value.
local function referenced(dead)
  local keep = {}
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if not dead[all[i]] then
      local bf = blobfields(all[i + 1])
      if not bf then return nil, all[i] end
      for _, b in ipairs(bf) do keep[b] = true end
    end
  end
  return keep
end

-- sweep deletes the blobs no checkpoint in keep reads; returns how many.
local function sweep(keep)
  local gone = {}
  for _, b in ipairs(redis.call('HKEYS', KEYS[5])) do
    if not keep[b] then gone[#gone + 1] = b end
  end
  delmany('HDEL', KEYS[5], gone)
  return #gone
end

-- trimplan returns the set of checkpoints beyond the newest n of each
-- namespace (only namespace nskey when given) and how many there are.
local function trimplan(n, nskey, nsend)
  local dead, count = {}, 0
  local members
  if nskey then
    members = redis.call('ZRANGEBYLEX', KEYS[3], '[' .. nskey, '(' .. nsend)
  else
    members = redis.call('ZRANGE', KEYS[3], 0, -1)
  end
  local cur, kept = nil, 0
  for i = #members, 1, -1 do
    local f = members[i]
    local k = string.sub(f, 1, #f - 26)
    if k ~= cur then cur, kept = k, 0 end
    kept = kept + 1
    if kept > n then dead[f] = true; count = count + 1 end
  end
  return dead, count
end

-- expire gives every key of the thread ms to live. A write without a TTL
-- (ms 0; its worker has no ThreadTTL) leaves the thread's expiry as
-- another worker set it, and gives it to the keys this write made (a
-- first blob, a first pending write): without it they would outlive the
-- thread's other keys, for ever. The cp key tells the thread's expiry:
-- every write with a TTL sets it on all keys, a write without one clears
-- none, and cp lives as long as the thread has a checkpoint (so one
-- PTTL on a thread that does not expire, the usual case).
local function expire(ms)
  if ms > 0 then
    for i = 1, 7 do redis.call('PEXPIRE', KEYS[i], ms) end
    return
  end
  local left = redis.call('PTTL', KEYS[1])
  if left > 0 then
    for i = 2, 7 do
      if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], left) end
    end
  end
end

local function putwrites(at)
  local n = tonumber(ARGV[at])
  for i = at + 1, at + 3 * n, 3 do
    local f, v = ARGV[i], ARGV[i + 1]
    if ARGV[i + 2] == '1' then
      redis.call('HSET', KEYS[6], f, v)
    else
      redis.call('HSETNX', KEYS[6], f, v)
    end
    redis.call('ZADD', KEYS[7], 0, f)
  end
end

-- recalled returns the reply a run of this call (token tok) gave, kept
-- in the thread's memo key, or nil. go-redis sends a command again when a
-- broken connection lost its reply, so a script can run twice for one
-- call; the second run answers with the first one's reply.
local function recalled(key, tok)
  local m = redis.call('GET', key)
  if m and string.sub(m, 1, #tok + 1) == tok .. ' ' then
    return cjson.decode(string.sub(m, #tok + 2))
  end
  return nil
end

-- remember keeps reply as the answer of the call with token tok for ms
-- milliseconds, and returns it.
local function remember(key, tok, ms, reply)
  redis.call('SET', key, tok .. ' ' .. cjson.encode(reply), 'PX', ms)
  return reply
end

-- The Redis type of each thread key, in threadKind order, then the index.
local keytypes = {'hash', 'hash', 'zset', 'zset', 'hash', 'hash', 'zset', 'zset'}

-- badkey returns the first of the n keys from KEYS[first] (thread keys in
-- threadKind order, then the index) that exists with another Redis type
-- than the store writes there, or nil. A writing script calls it before
-- its first write: a command on such a key fails with WRONGTYPE, and
-- Redis keeps what the script wrote before it.
local function badkey(first, n)
  for i = 0, n - 1 do
    local t = redis.call('TYPE', KEYS[first + i])['ok']
    if t ~= 'none' and t ~= keytypes[i + 1] then return KEYS[first + i] end
  end
  return nil
end

-- marked checks the layout marker at KEYS[k] before a writing script's
-- first write: it returns the version the marker holds when that is not
-- this layout's, else nil, having put the marker back when it was gone (a
-- Redis that lost its data while the store ran): what the script writes
-- is this layout, and a later New, of this build or another, must find it
-- so.
local function marked(k)
  local v = redis.call('GET', KEYS[k])
  if v and v ~= '` + formatVersion + `' then return v end
  if not v then redis.call('SET', KEYS[k], '` + formatVersion + `') end
  return nil
end

local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- the unsigned big-endian number of the n bytes of s from i (n <= 4)
local function be(s, i, n)
  local x = 0
  for k = i, i + n - 1 do x = x * 256 + (string.byte(s, k) or 0) end
  return x
end

local mpint = {[0xcc] = 1, [0xcd] = 2, [0xce] = 4, [0xcf] = 8}
local mpsint = {[0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8}
local mpfixed = {[0xc0] = 0, [0xc2] = 0, [0xc3] = 0, [0xca] = 4, [0xcb] = 8, [0xd4] = 2, [0xd5] = 3, [0xd6] = 5, [0xd7] = 9, [0xd8] = 17}

-- mpval reads the msgpack value at byte i of s. It returns a canonical
-- form of it (maps in the byte order of their keys, integers in one
-- width: equal content, equal forms, whatever order or width an encoder
-- chose), the position after it, and for a string its text; nil when
-- the bytes there are not a msgpack value. Lua numbers are doubles, so
-- integers stay bytes.
local function mpval(s, i, depth)
  local b = string.byte(s, i)
  if not b or depth > 100 then return nil end
  local n, at, kind
  if b >= 0xa0 and b <= 0xbf then n, at, kind = b - 0xa0, i + 1, 's'
  elseif b == 0xd9 or b == 0xc4 then n, at, kind = be(s, i + 1, 1), i + 2, 's'
  elseif b == 0xda or b == 0xc5 then n, at, kind = be(s, i + 1, 2), i + 3, 's'
  elseif b == 0xdb or b == 0xc6 then n, at, kind = be(s, i + 1, 4), i + 5, 's'
  elseif b == 0xc7 then n, at, kind = be(s, i + 1, 1) + 1, i + 2, 'x'
  elseif b == 0xc8 then n, at, kind = be(s, i + 1, 2) + 1, i + 3, 'x'
  elseif b == 0xc9 then n, at, kind = be(s, i + 1, 4) + 1, i + 5, 'x'
  end
  if n then
    if at + n - 1 > #s then return nil end
    if b >= 0xc4 and b <= 0xc6 then kind = 'b' end
    local str = string.sub(s, at, at + n - 1)
    return kind .. n .. ':' .. str, at + n, str
  end
  if b <= 0x7f then return '+' .. string.rep('\0', 7) .. string.char(b), i + 1 end
  if b >= 0xe0 then return '-' .. string.rep('\255', 7) .. string.char(b), i + 1 end
  local w = mpint[b] or mpsint[b]
  if w then
    if i + w > #s then return nil end
    local raw = string.sub(s, i + 1, i + w)
    if mpsint[b] and string.byte(raw, 1) >= 128 then
      return '-' .. string.rep('\255', 8 - w) .. raw, i + 1 + w
    end
    return '+' .. string.rep('\0', 8 - w) .. raw, i + 1 + w
  end
  w = mpfixed[b]
  if w then
    if i + w > #s then return nil end
    return 'f' .. string.sub(s, i, i + w), i + 1 + w
  end
  local cnt, ismap
  if b >= 0x90 and b <= 0x9f then cnt, at = b - 0x90, i + 1
  elseif b == 0xdc then cnt, at = be(s, i + 1, 2), i + 3
  elseif b == 0xdd then cnt, at = be(s, i + 1, 4), i + 5
  elseif b >= 0x80 and b <= 0x8f then cnt, at, ismap = b - 0x80, i + 1, true
  elseif b == 0xde then cnt, at, ismap = be(s, i + 1, 2), i + 3, true
  elseif b == 0xdf then cnt, at, ismap = be(s, i + 1, 4), i + 5, true
  else return nil end
  if at > #s + 1 or cnt > #s then return nil end
  local parts = {}
  for k = 1, (ismap and 2 or 1) * cnt do
    local c
    c, at = mpval(s, at, depth + 1)
    if not c then return nil end
    parts[k] = c
  end
  if not ismap then return 'a' .. cnt .. ':' .. table.concat(parts), at end
  local entries = {}
  for k = 1, cnt do entries[k] = #parts[2 * k - 1] .. ':' .. parts[2 * k - 1] .. parts[2 * k] end
  table.sort(entries, before)
  return 'm' .. cnt .. ':' .. table.concat(entries), at
end

-- mpsame reports whether a and b hold the same msgpack value.
local function mpsame(a, b)
  if a == b then return true end
  local ca, ea = mpval(a, 1, 0)
  local cb, eb = mpval(b, 1, 0)
  return ca ~= nil and ca == cb and ea == #a + 1 and eb == #b + 1
end

-- the msgpack record of a cp value, or nil when the value is malformed
local function recbody(v)
  if #v < 5 or string.byte(v, 1) ~= 1 then return nil end
  local n = be(v, 2, 4)
  if 5 + n > #v then return nil end
  return string.sub(v, 6 + n)
end

-- samecp reports whether two cp values hold the same checkpoint: equal
-- bytes, or (a value written before its maps were encoded in key order,
-- codec.go) the same blob fields and the same record.
local function samecp(a, b)
  if a == b then return true end
  local ba, bb = blobfields(a), blobfields(b)
  local ra, rb = recbody(a), recbody(b)
  if not (ba and bb and ra and rb) or #ba ~= #bb then return false end
  table.sort(ba, before)
  table.sort(bb, before)
  for i = 1, #ba do
    if ba[i] ~= bb[i] then return false end
  end
  return mpsame(ra, rb)
end

-- samemd reports whether two metadata values hold the same map.
local function samemd(a, b)
  if a == b then return true end
  return string.byte(a, 1) == 1 and string.byte(b, 1) == 1 and mpsame(string.sub(a, 2), string.sub(b, 2))
end

-- recparent returns the parent id a cp value's record names ('' for
-- none), or nil when the record does not parse: the record is the array
-- {V, TS, Parent, Versions, VersionsSeen} (codec.go).
local function recparent(v)
  local r = recbody(v)
  if not r or string.byte(r, 1) ~= 0x95 then return nil end
  local _, at = mpval(r, 2, 0)
  if not at then return nil end
  _, at = mpval(r, at, 0)
  if not at then return nil end
  local _, _, str = mpval(r, at, 0)
  return str
end
`

// putScript stores one checkpoint (and optionally pending writes).
// KEYS: the thread's keys (threadKind order), the index, the thread's
// recent puts, the layout marker. ARGV: 1 F, 2 parent F or "", 3 nsKey, 4 nsEnd, 5 cp value,
// 6 metadata, 7 ids member, 8 index member, 9 "1" for compare-and-set on
// the head, 10 "1" when the id was generated (it must sort after the
// head), 11 TTL in ms (0: none), 12 keep-last n (0: keep all), 13
// len16(thread)|thread, 14 the call's token, 15 the client's clock in ms,
// 16 number of blobs, then (field, value) pairs, then the number of
// writes and (field, value, replace) triples.
// Returns {"ok"}, {"notfound"}, {"conflict", head}, {"stale", head},
// {"reused", blob field}, {"corrupt", field}, {"cycle", parent F},
// {"wrongtype", key} or {"format", the marker's version}.
//
// A put that stored its checkpoint notes its token in the recent puts:
// go-redis sends the put again when a broken connection lost its reply,
// and that run answers "ok" as the first did, even if retention (KeepLast
// trimming by another worker's put, a Prune) removed the checkpoint in
// between (TestH117ResentPutTrimmedMeanwhileReportsSuccess): without the
// note it would find the parent gone and report ErrNotFound for a put
// that was applied and that other workers may have built on.
var putScript = redis.NewScript(luaPrelude + `
local bad = badkey(1, 8)
if not bad then
  local t = redis.call('TYPE', KEYS[9])['ok']
  if t ~= 'none' and t ~= 'zset' then bad = KEYS[9] end
end
if bad then return {'wrongtype', bad} end
local other = marked(10)
if other then return {'format', other} end
if redis.call('ZSCORE', KEYS[9], ARGV[14]) then return {'ok'} end
local function noted(reply)
  local now = tonumber(ARGV[15])
  redis.call('ZADD', KEYS[9], now, ARGV[14])
  redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', '(' .. (now - ` + strconv.Itoa(replyMemoMillis) + `))
  redis.call('ZREMRANGEBYRANK', KEYS[9], 0, -` + strconv.Itoa(recentPutsMax+1) + `)
  redis.call('PEXPIRE', KEYS[9], ` + strconv.Itoa(replyMemoMillis) + `)
  return reply
end
local f, parent, nskey, nsend = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stored = redis.call('HGET', KEYS[1], f)
local storedmd = stored and redis.call('HGET', KEYS[2], f)
if stored and storedmd and samecp(stored, ARGV[5]) and samemd(storedmd, ARGV[6]) then
  -- Already stored: the client resent this put after losing the reply
  -- (go-redis retries on a broken connection), or the same put came
  -- again. Report success instead of a false conflict or a second
  -- checkpoint; pending writes and expiry are idempotent, apply them.
  -- The same content is the same put even in other bytes (a record a
  -- build before wrote with its maps in Go's order): a retry across an
  -- upgrade is not ErrConflict. Unless its values differ: the same
  -- record with other bytes under a stored (channel, version) is not
  -- the same put.
  for i = 17, 16 + 2 * tonumber(ARGV[16]), 2 do
    local cur = redis.call('HGET', KEYS[5], ARGV[i])
    if cur and cur ~= ARGV[i + 1] then return {'reused', ARGV[i]} end
  end
  putwrites(17 + 2 * tonumber(ARGV[16]))
  expire(tonumber(ARGV[11]))
  return noted({'ok'})
end
if parent ~= '' and redis.call('HEXISTS', KEYS[1], parent) == 0 then return {'notfound'} end
local head = redis.call('ZREVRANGEBYLEX', KEYS[3], '(' .. nsend, '[' .. nskey, 'LIMIT', 0, 1)[1] or ''
if ARGV[9] == '1' and head ~= parent then return {'conflict', head} end
if ARGV[10] == '1' and head ~= '' and not before(head, f) then return {'stale', head} end
-- A put again of a stored checkpoint under another parent may not make it
-- its own ancestor: walk up from the new parent (only then: the same
-- parent adds no edge). A walk that meets a cycle already stored, or an
-- ancestor removed by retention, ends there.
if stored and parent ~= '' then
  local was = recparent(stored)
  if not was then return {'corrupt', f} end
  if nskey .. was ~= parent then
    local id, at, seen = string.sub(f, #f - 25), parent, {}
    while not seen[at] do
      seen[at] = true
      local v = redis.call('HGET', KEYS[1], at)
      if not v then break end
      local up = recparent(v)
      if not up then return {'corrupt', at} end
      if up == '' then break end
      if up == id then return {'cycle', parent} end
      at = nskey .. up
    end
  end
end
-- A (channel, version) names one value for ever: a stored field holding
-- other bytes refuses the put before anything is written.
local nb = tonumber(ARGV[16])
for i = 17, 16 + 2 * nb, 2 do
  local cur = redis.call('HGET', KEYS[5], ARGV[i])
  if cur and cur ~= ARGV[i + 1] then return {'reused', ARGV[i]} end
end
local keepn = tonumber(ARGV[12])
-- Trimming sweeps blobs, which needs every cp value to parse: check that
-- before the first write.
local trim = keepn > 0 and redis.call('ZLEXCOUNT', KEYS[3], '[' .. nskey, '(' .. nsend) >= keepn
if trim then
  local ok, bad = referenced({})
  if not ok then return {'corrupt', bad} end
end
for i = 17, 16 + 2 * nb, 2 do
  redis.call('HSETNX', KEYS[5], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], f, ARGV[5])
redis.call('HSET', KEYS[2], f, ARGV[6])
redis.call('ZADD', KEYS[3], 0, f)
redis.call('ZADD', KEYS[4], 0, ARGV[7])
redis.call('ZADD', KEYS[8], 0, ARGV[8])
putwrites(17 + 2 * nb)
if trim then
  local dead, n = trimplan(keepn, nskey, nsend)
  if n > 0 then
    local keep = referenced(dead)
    for d in pairs(dead) do drop(ARGV[13], d) end
    sweep(keep)
  end
end
expire(tonumber(ARGV[11]))
return noted({'ok'})
`)

// writesScript attaches pending writes to a checkpoint. KEYS: the
// thread's keys, the index, the layout marker.
// ARGV: 1 F, 2 TTL in ms, 3 number of writes, then (field, value,
// replace) triples. Returns {"ok"}, {"notfound"}, {"wrongtype", key} or
// {"format", the marker's version}.
var writesScript = redis.NewScript(luaPrelude + `
local bad = badkey(1, 7)
if bad then return {'wrongtype', bad} end
local other = marked(9)
if other then return {'format', other} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'notfound'} end
putwrites(3)
expire(tonumber(ARGV[2]))
return {'ok'}
`)

// getScript reads one checkpoint with everything it needs, in one atomic
// step. ARGV: 1 F ("" for the head of the namespace), 2 nsKey, 3 nsEnd.
// Returns {} when there is none, {"corrupt", F} for a malformed cp value,
// {"badhead", member} when the namespace's newest ord member is not the F
// of a stored checkpoint, else {F, cp value, metadata, blob fields, blob
// values, write fields, write values}.
var getScript = redis.NewScript(luaPrelude + `
local f = ARGV[1]
if f == '' then
  f = redis.call('ZREVRANGEBYLEX', KEYS[3], '(' .. ARGV[3], '[' .. ARGV[2], 'LIMIT', 0, 1)[1]
  if not f then return {} end
  -- a put writes ord and cp together: a head without its checkpoint, or
  -- not shaped as nsKey | ULID, is damage (not "no checkpoint")
  if #f ~= #ARGV[2] + 26 or not string.find(f, '^[0-9A-Z]+$', #ARGV[2] + 1) or redis.call('HEXISTS', KEYS[1], f) == 0 then
    return {'badhead', f}
  end
end
local cp = redis.call('HGET', KEYS[1], f)
if not cp then return {} end
local bf = blobfields(cp)
if not bf then return {'corrupt', f} end
local bv = hmget(KEYS[5], bf)
local wf = writesof(f)
local wv = hmget(KEYS[6], wf)
return {f, cp, redis.call('HGET', KEYS[2], f), bf, bv, wf, wv}
`)

// unindexScript removes a global index entry whose checkpoint no longer
// exists (its thread expired). KEYS: cp of the thread, index, the layout
// marker. ARGV: F, index member. Returns how many entries it removed (0
// or 1), or {"format", the marker's version}: an entry of another
// layout is not this store's to remove.
var unindexScript = redis.NewScript(luaPrelude + `
local other = marked(3)
if other then return {'format', other} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0
`)

// deleteScript removes a whole thread. KEYS: the thread's keys, the
// index, the thread's memo, the layout marker. ARGV: 1
// len16(thread)|thread, 2 the call's token, 3 how long the memo keeps its
// reply in ms. Returns the number of checkpoints removed (the first
// run's, when the call runs again), or {"format", the marker's version}
// (nothing deleted: keys of another layout are not this store's to
// remove).
var deleteScript = redis.NewScript(luaPrelude + `
local again = recalled(KEYS[9], ARGV[2])
if again then return again end
local other = marked(10)
if other then return {'format', other} end
local ids = redis.call('ZRANGE', KEYS[4], 0, -1)
local idx = {}
for i, m in ipairs(ids) do
  idx[i] = string.sub(m, 1, 26) .. ARGV[1] .. string.sub(m, 27)
end
delmany('ZREM', KEYS[8], idx)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return remember(KEYS[9], ARGV[2], ARGV[3], #ids)
`)

// pruneScript removes checkpoints of one thread with their writes, then
// the blobs no remaining checkpoint reads. KEYS: the thread's keys, the
// index, the thread's memo, the layout marker. ARGV: 1 len16(thread)|thread, 2 the call's
// token, 3 how long the memo keeps its reply in ms, 4 keep-last n per
// namespace (0: drop the checkpoints listed from ARGV 5 on, by F).
// Returns {checkpoints, writes, blobs} removed (the first run's, when the
// call runs again), {"corrupt", field}, {"wrongtype", key} or {"format",
// the marker's version}.
var pruneScript = redis.NewScript(luaPrelude + `
local again = recalled(KEYS[9], ARGV[2])
if again then return again end
local bad = badkey(1, 8)
if bad then return {'wrongtype', bad} end
local other = marked(10)
if other then return {'format', other} end
local n = tonumber(ARGV[4])
local dead, count = {}, 0
if n > 0 then
  dead, count = trimplan(n, nil, nil)
else
  for i = 5, #ARGV do
    if not dead[ARGV[i]] and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
      dead[ARGV[i]] = true
      count = count + 1
    end
  end
end
if count == 0 then return {0, 0, 0} end
local keep, bad = referenced(dead)
if not keep then return {'corrupt', bad} end
local writes = 0
for f in pairs(dead) do writes = writes + drop(ARGV[1], f) end
return remember(KEYS[9], ARGV[2], ARGV[3], {count, writes, sweep(keep)})
`)

// copyScript copies a thread. KEYS: the source's 7 thread keys, the
// destination's 7, the index, the destination's memo, the layout marker.
// ARGV:
// 1 len16(source)|source, 2 len16(destination)|destination, 3 "1" to
// replace an existing destination, 4 TTL in ms, 5 the call's token, 6 how
// long the memo keeps its reply in ms. Returns {"ok", checkpoints},
// {"notfound"}, {"exists"}, {"wrongtype", key} or {"format", version}. A
// call that runs again (its reply lost) answers "ok" as its first run
// did, not "exists" for the destination that run made.
var copyScript = redis.NewScript(luaPrelude + `
local again = recalled(KEYS[16], ARGV[5])
if again then return again end
local bad = badkey(1, 7) or badkey(8, 7)
local it = redis.call('TYPE', KEYS[15])['ok']
if not bad and it ~= 'none' and it ~= 'zset' then bad = KEYS[15] end
if bad then return {'wrongtype', bad} end
local other = marked(17)
if other then return {'format', other} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'notfound'} end
if redis.call('EXISTS', KEYS[10]) == 1 then
  if ARGV[3] ~= '1' then return {'exists'} end
  local idx = {}
  for i, m in ipairs(redis.call('ZRANGE', KEYS[11], 0, -1)) do
    idx[i] = string.sub(m, 1, 26) .. ARGV[2] .. string.sub(m, 27)
  end
  delmany('ZREM', KEYS[15], idx)
end
for i = 1, 7 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('COPY', KEYS[i], KEYS[7 + i], 'REPLACE')
  else
    redis.call('DEL', KEYS[7 + i])
  end
end
local ids = redis.call('ZRANGE', KEYS[4], 0, -1)
for _, m in ipairs(ids) do
  redis.call('ZADD', KEYS[15], 0, string.sub(m, 1, 26) .. ARGV[2] .. string.sub(m, 27))
end
local ms = tonumber(ARGV[4])
if ms > 0 then
  for i = 8, 14 do redis.call('PEXPIRE', KEYS[i], ms) end
end
return remember(KEYS[16], ARGV[5], ARGV[6], {'ok', #ids})
`)

var allScripts = []*redis.Script{putScript, writesScript, getScript, unindexScript, deleteScript, pruneScript, copyScript}
