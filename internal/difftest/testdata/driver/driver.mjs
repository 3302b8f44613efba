// Differential oracle for ckpt's Saver: LangGraph.js's MemorySaver and
// SqliteSaver (in memory) driven by JSON lines on stdin, one request a
// line, one answer a line on stdout: {"mem": R, "sql": R} where R is
// {"ok": value} or {"err": message}. Requests (see ../../diff_test.go):
//
//	{"op":"put","thread":..,"ns":..,"parent":id|"","cp":{v,id,ts,channel_values,channel_versions,versions_seen},"metadata":{..},"new_versions":{..},"tasks":[{task_id,task_path,writes}]|null}
//	  (then putWrites of each task's writes to the new checkpoint)
//	{"op":"putWrites","thread":..,"ns":..,"id":..,"writes":[[channel,value],..],"task_id":..,"task_path":..}
//	{"op":"getTuple","thread":..,"ns":..,"id":id|""}
//	{"op":"list","thread":id|null,"ns":ns|null,"before":id|"","limit":n,"filter":{..}|null}
//	{"op":"deleteThread","thread":..}
//	{"op":"reset"}
import readline from "node:readline";
import { MemorySaver } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";

let savers;
function reset() {
  savers = { mem: new MemorySaver(), sql: SqliteSaver.fromConnString(":memory:") };
}
reset();

function tuple(t) {
  if (t === undefined) return null;
  return {
    config: t.config.configurable,
    parent: t.parentConfig ? t.parentConfig.configurable : null,
    checkpoint: t.checkpoint,
    metadata: t.metadata,
    pending_writes: t.pendingWrites ?? [],
  };
}

function cfg(thread, ns, id) {
  const c = { thread_id: thread, checkpoint_ns: ns };
  if (id) c.checkpoint_id = id;
  return { configurable: c };
}

async function run(s, req) {
  switch (req.op) {
    case "put": {
      const c = await s.put(cfg(req.thread, req.ns, req.parent), req.cp, req.metadata, req.new_versions);
      for (const t of req.tasks ?? []) await s.putWrites(c, t.writes, t.task_id, t.task_path);
      return c.configurable;
    }
    case "putWrites":
      await s.putWrites(cfg(req.thread, req.ns, req.id), req.writes, req.task_id, req.task_path);
      return null;
    case "getTuple":
      return tuple(await s.getTuple(cfg(req.thread, req.ns, req.id)));
    case "list": {
      const c = { configurable: {} };
      if (req.thread !== null) c.configurable.thread_id = req.thread;
      if (req.ns !== null) c.configurable.checkpoint_ns = req.ns;
      const opts = {};
      if (req.before) opts.before = { configurable: { checkpoint_id: req.before } };
      if (req.limit) opts.limit = req.limit;
      if (req.filter) opts.filter = req.filter;
      const out = [];
      for await (const t of s.list(c, opts)) out.push(tuple(t));
      return out;
    }
    case "deleteThread":
      await s.deleteThread(req.thread);
      return null;
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === "") continue;
  const req = JSON.parse(line);
  if (req.op === "reset") {
    reset();
    process.stdout.write(JSON.stringify({ mem: { ok: null }, sql: { ok: null } }) + "\n");
    continue;
  }
  const out = {};
  for (const [name, s] of Object.entries(savers)) {
    try {
      // Each saver gets its own copy: savers may keep what they are given.
      out[name] = { ok: (await run(s, structuredClone(req))) ?? null };
    } catch (e) {
      out[name] = { err: String(e && e.message ? e.message : e) };
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
