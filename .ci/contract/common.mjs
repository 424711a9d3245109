// Shared by the contract, load and playground tests: a small model trained once, and `lumenspark serve` on it.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WORK = join(ROOT, "target", "contract");
export const MODEL = join(WORK, "model");
export const KEY = "sk-contract-test";
export const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
  + " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Text to train on: sentences made from a fixed word list by a seeded generator (no download). */
function corpus() {
  const words = ("the state of union people nation law free war peace time great year our we they it is was be have"
    + " not all one new more when who will would there their what so up out if about into than them can only other"
    + " congress government country world president power public money trade work men right good").split(" ");
  let seed = 12345;
  const rand = n => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const lines = [];
  for (let i = 0; i < 6000; i++) {
    const n = 5 + rand(12);
    const s = Array.from({ length: n }, () => words[rand(words.length)]).join(" ");
    lines.push(s.charAt(0).toUpperCase() + s.slice(1) + (rand(5) === 0 ? "?" : "."));
  }
  return lines.map((l, i) => (i % 7 === 6 ? l + "\n\n" : l + " ")).join("");
}

/** Trains the tokenizer and model once (cached under target/contract). */
export function ensureModel() {
  if (existsSync(join(MODEL, "config.json"))) return MODEL;
  mkdirSync(WORK, { recursive: true });
  const text = join(WORK, "corpus.txt");
  writeFileSync(text, corpus());
  const run = args => execFileSync(join(ROOT, "lumenspark"), args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  if (!existsSync(join(WORK, "tokenizer", "tokenizer.json"))) {
    run(["tokenizer", "train", "--input", text, "--vocab-size", "300", "--out", join(WORK, "tokenizer")]);
  }
  run(["train", "--data", text, "--tokenizer", join(WORK, "tokenizer"), "--preset", "tiny", "--set", "embed_dim=32",
    "--set", "depth=2", "--set", "heads=2", "--set", "seq_length=128", "--set", "k=16", "--set", "rank=8",
    "--steps", "40", "--batch", "4", "--out", MODEL, "--force"]);
  // a chat template in the folder, as Hugging Face keeps it (ChatML)
  const cfgFile = join(MODEL, "tokenizer_config.json");
  const cfg = JSON.parse(readFileSync(cfgFile, "utf8"));
  cfg.chat_template = CHATML;
  writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
  return MODEL;
}

/**
 * Starts `lumenspark serve` on a free port with the given options; resolves with {url, proc, stderr()} once it
 * says it is ready.
 */
const running = new Set();
// a test that fails before it stops its server must not leave it running (nor the test process waiting on it)
process.on("exit", () => { for (const p of running) p.kill("SIGKILL"); });

export function startServer(extra = []) {
  ensureModel();
  const proc = spawn(join(ROOT, "lumenspark"), ["serve", "--model", "contract=" + MODEL, "--port", "0", ...extra],
    { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  running.add(proc);
  proc.on("exit", () => running.delete(proc));
  let err = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not start:\n" + err)), 180_000);
    proc.stderr.on("data", d => {
      err += d;
      const m = err.match(/listening on (http:\/\/[^;\s]+)/);
      if (m && err.includes("ready:")) {
        clearTimeout(timer);
        resolve({ url: m[1], proc, stderr: () => err });
      }
    });
    proc.on("exit", code => { clearTimeout(timer); reject(new Error("the server exited (" + code + "):\n" + err)); });
  });
}

/** SIGTERM, then the exit code (it drains first). */
export function stopServer(server) {
  return new Promise(resolve => {
    server.proc.removeAllListeners("exit");
    server.proc.on("exit", code => resolve(code));
    server.proc.kill("SIGTERM");
  });
}

/** The server's resident memory in MiB (Linux). */
export function rssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] : NaN;
}
