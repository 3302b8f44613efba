// Prints the sha256 of the W1 input as the peer harness generates it, so
// that `go run ./bench --peer langgraphjs` can refuse to compare runs on
// different inputs. Copied next to the peer's bench.mjs and run there:
//
//   node peer_checksum.mjs T S P C NPICKS
//
// The text comes from the peer's own exported text(); the R2 picks use a
// verbatim copy of the peer's rngInit/rngNext (bench.mjs does not export
// them). The byte order is the one of checksum() in bench/text.go.
import crypto from "node:crypto";
import { text } from "./bench.mjs";

const MASK64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;
function rngInit(seed) {
  let x = (BigInt(seed) ^ GOLDEN) & MASK64;
  if (x === 0n) x = GOLDEN;
  return x;
}
function rngNext(x) {
  x ^= (x << 13n) & MASK64;
  x ^= x >> 7n;
  x ^= (x << 17n) & MASK64;
  return x;
}

const [T, S, P, C, N] = process.argv.slice(2).map((a) => {
  const v = Number(a);
  if (!Number.isInteger(v) || v < 0) throw new Error(`bad integer ${a}`);
  return v;
});
if (N === undefined) throw new Error("usage: node peer_checksum.mjs T S P C NPICKS");

const h = crypto.createHash("sha256");
for (let t = 0; t < T; t++) {
  h.update(text(t, C), "latin1");
  for (let s = 0; s < S; s++) h.update(text(t * 1000003 + s, P), "latin1");
}
let x = rngInit(42);
const total = BigInt(T * S);
for (let i = 0; i < N; i++) {
  x = rngNext(x);
  const k = Number(x % total);
  h.update(`${Math.floor(k / S)},${k % S}\n`);
}
console.log(h.digest("hex"));
