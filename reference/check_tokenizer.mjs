// Checks Lumenspark's tokenizer files and encoder against Hugging Face's transformers.js, offline:
//   HFJS_DIR=DIR node reference/check_tokenizer.mjs TOKENIZER_DIR IDS.jsonl
// IDS.jsonl comes from reference/EncodeIds.java ({"text", "ids", "decoded"} per line). transformers.js loads
// TOKENIZER_DIR/tokenizer.json, encodes each text (adding no special tokens) and decodes our ids; both must equal
// ours. HFJS_DIR is the npm prefix transformers.js is installed in (reference/README.md). Exit status 1 on a mismatch.
//
// One difference is known and not counted: the pre-tokenizer's \s is JavaScript's (which has U+FEFF and lacks
// U+0085), not Unicode White_Space as in the Rust tokenizers library (Oniguruma), tiktoken and ours. A text that
// differs only there agrees once \s is replaced by White_Space, and is reported as such.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [dir, idsFile] = process.argv.slice(2);
if (!dir || !idsFile) {
  console.error('usage: HFJS_DIR=DIR node check_tokenizer.mjs TOKENIZER_DIR IDS.jsonl');
  process.exit(2);
}
const hf = process.env.HFJS_DIR
  ? createRequire(path.resolve(process.env.HFJS_DIR) + '/')('@huggingface/transformers')
  : await import('@huggingface/transformers');
hf.env.allowRemoteModels = false;
hf.env.localModelPath = path.dirname(path.resolve(dir)) + '/';
const load = () => hf.AutoTokenizer.from_pretrained(path.basename(path.resolve(dir)));
const tokenizer = await load();

// A second instance whose GPT-2 split pattern uses White_Space for \s.
const ws = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const whiteSpacePattern = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${ws}\\p{L}\\p{N}]+`
  + `|[${ws}]+(?![^${ws}])|[${ws}]+`, 'gu');
const withWhiteSpace = await load();
const patch = p => {
  if (!p) return;
  if (p.pattern instanceof RegExp && p.pattern.source.includes("'ll")) p.pattern = whiteSpacePattern;
  (p.pretokenizers ?? []).forEach(patch);
};
patch(withWhiteSpace._tokenizer?.pre_tokenizer ?? withWhiteSpace.pre_tokenizer);

const same = (a, b) => a.length === b.length && a.every((id, i) => id === b[i]);
const encode = (t, text) => t.encode(text, { add_special_tokens: false });
let texts = 0, tokens = 0, whiteSpaceOnly = 0, encodeMismatches = 0, decodeMismatches = 0;
for (const line of fs.readFileSync(idsFile, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const row = JSON.parse(line);
  texts++;
  tokens += row.ids.length;
  const theirs = encode(tokenizer, row.text);
  if (!same(theirs, row.ids)) {
    if (same(encode(withWhiteSpace, row.text), row.ids)) {
      whiteSpaceOnly++;
    } else if (encodeMismatches++ < 10) {
      let i = 0;
      while (theirs[i] === row.ids[i]) i++;
      console.log(`encode ${JSON.stringify(row.text.slice(0, 200))}: from token ${i}, ours`
        + ` ${JSON.stringify(row.ids.slice(i, i + 8))}, transformers.js ${JSON.stringify(theirs.slice(i, i + 8))}`);
    }
  }
  const decoded = row.ids.length ? tokenizer.decode(row.ids) : ''; // it refuses an empty list
  if (decoded !== row.decoded && decodeMismatches++ < 10) {
    console.log(`decode ${JSON.stringify(row.ids.slice(0, 20))}: ours ${JSON.stringify(row.decoded.slice(0, 200))},`
      + ` transformers.js ${JSON.stringify(decoded.slice(0, 200))}`);
  }
}
console.log(`${texts} texts, ${tokens} tokens: ${encodeMismatches} encode and ${decodeMismatches} decode mismatches;`
  + ` ${whiteSpaceOnly} texts differ only by JavaScript's \\s (transformers.js ${hf.env.version},`
  + ` Unicode ${process.versions.unicode})`);
process.exit(encodeMismatches + decodeMismatches > 0 ? 1 : 0);
