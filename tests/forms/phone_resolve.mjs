// Runs the phone's evaluateForm (server/static/app/js/expr.js, copied here as
// an ES module by the test) on [definition, answers] cases from stdin and
// prints the clean answers of each, for the phone/server parity test; with a
// fourth argument "errors", the errors of each instead, as [field key, error code].
import { createRequire } from "module";
import { pathToFileURL } from "url";

const require = createRequire(import.meta.url);
globalThis.jsonLogic = require(process.argv[2]);
const { evaluateForm } = await import(pathToFileURL(process.argv[3]).href);

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const errors = process.argv[4] === "errors";
const results = JSON.parse(input).map(([definition, answers]) => {
  const out = evaluateForm(definition, answers);
  return errors ? [...out.errors].map(([key, error]) => [key, error.code]) : out.answers;
});
process.stdout.write(JSON.stringify(results));
