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

// putScript stores one checkpoint (and optionally pending writes).
// KEYS: the thread's keys (threadKind order), the index, the thread's
// recent puts, the layout marker. ARGV: 1 F, 2 parent F or "", 3 nsKey, 4 nsEnd, 5 cp value,
// 6 metadata, 7 ids member, 8 index member, 9 "1" for compare-and-set on
// the head, 10 "1" when the id was generated (it must sort after the
// head), 11 TTL in ms (0: none), 12 keep-last n (0: keep all), 13
// len16(thread)|thread, 14 the call's token, 15 the client's clock in ms,
// 16 number of blobs, then (field, value) pairs, then the number of
// writes and (field, value, replace) triples, then the number of named
// blob fields (versions the checkpoint names without a new value), the
// "no value" blob, and those fields.
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
-- A version named without a value and with none stored gets "no value",
-- so that a later put cannot give this checkpoint a value it did not have.
local at = 18 + 2 * nb + 3 * tonumber(ARGV[17 + 2 * nb])
for i = at + 2, at + 1 + tonumber(ARGV[at]) do
  redis.call('HSETNX', KEYS[5], ARGV[i], ARGV[at + 1])
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
