// Runs the phone's evaluateForm (server/static/app/js/expr.js, copied here as
// an ES module by the test) on [definition, answers] cases from stdin and
// prints the clean answers of each, for the phone/server parity test.
import { createRequire } from "module";
import { pathToFileURL } from "url";

const require = createRequire(import.meta.url);
globalThis.jsonLogic = require(process.argv[2]);
const { evaluateForm } = await import(pathToFileURL(process.argv[3]).href);

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map(([definition, answers]) => evaluateForm(definition, answers).answers);
process.stdout.write(JSON.stringify(results));
