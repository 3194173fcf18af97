// Reads an export's tokenizer.json + tokenizer_config.json with Hugging Face's own
// tokenizers.js (@huggingface/tokenizers, installed by `scripts/install_deps.sh --test`
// into build/node) and prints what it makes of some texts and ids, for the test that
// compares it with gpt.cc's encode and decode (tests/test_hf_tokenizer.cpp).
//
//   node scripts/hf_tokenizer_check.mjs NODE_PREFIX EXPORT_DIR REQUEST.json
//
// REQUEST.json: {"encode": ["text", ...], "decode": [[id, ...], ...]}
// stdout: {"version": "0.2.0", "encode": [[id, ...], ...], "decode": ["text", ...]}
// An id tokenizers.js cannot give (a character its vocabulary lacks) prints as null.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, dir, request] = process.argv.slice(2);
if (!request) {
  console.error("usage: node hf_tokenizer_check.mjs NODE_PREFIX EXPORT_DIR REQUEST.json");
  process.exit(2);
}
const pkg = join(prefix, "node_modules", "@huggingface", "tokenizers");
const version = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version;
const { Tokenizer } = await import(pathToFileURL(join(pkg, "dist", "tokenizers.mjs")).href);
const json = (f) => JSON.parse(readFileSync(join(dir, f), "utf8"));
const tokenizer = new Tokenizer(json("tokenizer.json"), json("tokenizer_config.json"));
const req = JSON.parse(readFileSync(request, "utf8"));
const out = {
  version,
  encode: (req.encode ?? []).map((t) => tokenizer.encode(t, { add_special_tokens: false }).ids.map((id) => id ?? null)),
  decode: (req.decode ?? []).map((ids) => (ids.length ? tokenizer.decode(ids) : "")),
};
process.stdout.write(JSON.stringify(out) + "\n");
