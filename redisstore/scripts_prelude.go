package redisstore

// luaPrelude is the Lua every script of scripts.go starts with: the
// helpers they share (bulk deletes and reads, retention's plans and
// sweeps, expiry, the replies remembered for retries, key and layout
// marker checks, and a msgpack reader that takes a stored record apart
// to compare canonical forms and to walk parents).

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
