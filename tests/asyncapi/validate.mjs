// Validate an AsyncAPI document with the official parser; print diagnostics as JSON, exit 1 on errors.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"));
const errors = diagnostics.filter((d) => d.severity === 0);
console.log(JSON.stringify({
  valid: Boolean(document) && errors.length === 0,
  version: document ? document.version() : null,
  channels: document ? document.channels().length : 0,
  errors: errors.map((d) => ({ path: d.path.join("."), message: d.message })),
  warnings: diagnostics.filter((d) => d.severity === 1).length,
}));
process.exit(document && errors.length === 0 ? 0 : 1);
