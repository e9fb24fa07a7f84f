// Evaluates JSON Logic cases with json-logic-js + forms/rules.js, for the parity tests.
// stdin: JSON array of [rule, data]; stdout: JSON array of encoded results.
// Encoding keeps what JSON cannot say: undefined, NaN, infinities, thrown errors.
"use strict";
const path = require("path");
// json-logic-js's "log" writes to the console; keep stdout for results.
console.log = (...args) => process.stderr.write(args.join(" ") + "\n");
const jsonLogic = require(path.join(__dirname, "..", "..", "forms", "rules.js"));

function encode(value) {
  if (value === undefined) return { $undefined: true };
  if (typeof value === "number" && !Number.isFinite(value)) return { $number: String(value) };
  if (typeof value === "function") return { $function: true };
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = encode(value[key]);
    return out;
  }
  return value;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const cases = JSON.parse(input);
  const results = cases.map(([rule, data]) => {
    try {
      return encode(jsonLogic.apply(rule, data));
    } catch (error) {
      return { $error: String(error && error.message) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
