// lumenspark serve checked with OpenAI's official Node client: completions and chat, streaming and not, n > 1,
// stop sequences, logprobs, echo, and the errors with their status codes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer, stopServer, KEY } from "./common.mjs";

let server, client;

before(async () => {
  server = await startServer(["--api-key", KEY, "--max-batch", "8", "--max-queue", "8", "--max-body", "65536"]);
  client = new OpenAI({ apiKey: KEY, baseURL: server.url + "/v1", maxRetries: 0 });
});

after(async () => {
  const code = await stopServer(server);
  assert.equal(code, 0, "SIGTERM drains and exits 0");
});

const base = { model: "contract", prompt: "The state of the union", max_tokens: 24, seed: 7, temperature: 0.9 };

async function collect(stream) {
  const texts = [], finish = [];
  let usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      const piece = c.delta ? (c.delta.content ?? "") : c.text;
      texts[c.index] = (texts[c.index] ?? "") + piece;
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  return { texts, finish, usage, chunks };
}

/** The text of legacy logprobs' tokens: each one's UTF-8, or its bytes where it shows them ("bytes:\\xe6\\x97"). */
function textOf(tokens) {
  const bytes = tokens.flatMap(t => t.startsWith("bytes:")
    ? t.slice(6).split("\\x").filter(h => h).map(h => parseInt(h, 16)) : [...Buffer.from(t, "utf8")]);
  return Buffer.from(bytes).toString("utf8");
}

test("models list the served model with its context", async () => {
  const list = await client.models.list();
  const ids = list.data.map(m => m.id);
  assert.deepEqual(ids, ["contract"]);
  const m = await client.models.retrieve("contract");
  assert.equal(m.object, "model");
  assert.equal(m.lumenspark.context_length, 128);
  assert.equal(m.lumenspark.chat_template, "the model's");
});

test("a completion has OpenAI's shape and a seed reproduces it", async () => {
  const a = await client.completions.create(base);
  assert.match(a.id, /^cmpl-/);
  assert.equal(a.object, "text_completion");
  assert.equal(a.model, "contract");
  assert.equal(typeof a.created, "number");
  assert.equal(a.choices.length, 1);
  assert.equal(a.choices[0].index, 0);
  assert.equal(typeof a.choices[0].text, "string");
  assert.ok(["stop", "length"].includes(a.choices[0].finish_reason));
  assert.equal(a.usage.total_tokens, a.usage.prompt_tokens + a.usage.completion_tokens);
  assert.ok(a.usage.completion_tokens <= 24 && a.usage.completion_tokens > 0);
  const b = await client.completions.create(base);
  assert.equal(b.choices[0].text, a.choices[0].text, "the same seed, the same text");
  assert.notEqual(b.id, a.id);
});

test("streaming gives the same text in chunks, then usage", async () => {
  const whole = await client.completions.create(base);
  const s = await collect(await client.completions.create({ ...base, stream: true, stream_options: { include_usage: true } }));
  assert.equal(s.texts[0], whole.choices[0].text);
  assert.equal(s.finish[0], whole.choices[0].finish_reason);
  assert.deepEqual(s.usage, whole.usage);
  assert.ok(s.chunks > 2);
});

test("n > 1 and several prompts give every choice its index", async () => {
  const r = await client.completions.create({ ...base, prompt: ["War and", "Peace"], n: 3 });
  assert.deepEqual(r.choices.map(c => c.index), [0, 1, 2, 3, 4, 5]);
  assert.ok(new Set(r.choices.map(c => c.text)).size > 1, "the samples differ");
  const s = await collect(await client.completions.create({ ...base, prompt: ["War and", "Peace"], n: 3, stream: true }));
  assert.deepEqual(s.texts, r.choices.map(c => c.text), "streamed choices equal the whole ones");
});

test("stop sequences end the text before them, with finish_reason stop", async () => {
  const free = await client.completions.create({ ...base, temperature: 0, max_tokens: 40 });
  const text = free.choices[0].text;
  assert.ok(text.length > 8, text);
  const stop = text.slice(4, 7);
  for (const stream of [false, true]) {
    const args = { ...base, temperature: 0, max_tokens: 40, stop: [stop, "zzzz"], stream };
    const got = stream ? (await collect(await client.completions.create(args))).texts[0]
      : (await client.completions.create(args)).choices[0].text;
    assert.equal(got, text.slice(0, text.indexOf(stop)), "stream " + stream);
  }
  const r = await client.completions.create({ ...base, temperature: 0, max_tokens: 40, stop });
  assert.equal(r.choices[0].finish_reason, "stop");
});

test("logprobs and echo as the legacy completions API gives them", async () => {
  const r = await client.completions.create({ ...base, logprobs: 2, echo: true, max_tokens: 6 });
  const c = r.choices[0];
  assert.ok(c.text.startsWith(base.prompt), "echo puts the prompt first");
  const lp = c.logprobs;
  assert.equal(lp.tokens.length, lp.token_logprobs.length);
  assert.equal(lp.tokens.length, lp.text_offset.length);
  assert.equal(lp.token_logprobs[0], null, "the first prompt token has no log-probability");
  assert.equal(lp.top_logprobs[0], null);
  for (let i = 1; i < lp.tokens.length; i++) {
    assert.ok(lp.token_logprobs[i] <= 0);
    const top = Object.values(lp.top_logprobs[i]);
    assert.ok(top.length >= 1 && top.length <= 2);
    assert.ok(Math.max(...top) >= lp.token_logprobs[i] - 1e-9, "the top alternatives are at least as likely");
  }
  assert.equal(textOf(lp.tokens), c.text);
});

test("chat completions through the folder's chat template, streaming with deltas", async () => {
  const messages = [{ role: "system", content: "You are brief." }, { role: "user", content: "What is the state of the union?" }];
  const args = { model: "contract", messages, max_tokens: 16, seed: 3 };
  const r = await client.chat.completions.create(args);
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(r.usage.prompt_tokens > 10, "the template adds its markers");
  const stream = await client.chat.completions.create({ ...args, stream: true });
  let first = null, content = "", finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    const d = chunk.choices[0];
    if (first === null) first = d.delta;
    content += d.delta.content ?? "";
    if (d.finish_reason) finish = d.finish_reason;
  }
  assert.equal(first.role, "assistant");
  assert.equal(content, r.choices[0].message.content);
  assert.equal(finish, r.choices[0].finish_reason);
  const lp = await client.chat.completions.create({ ...args, logprobs: true, top_logprobs: 2, n: 2 });
  assert.equal(lp.choices.length, 2);
  for (const c of lp.choices) {
    // the bytes rebuild the text; a token that is part of a character shows as "bytes:\\x.."
    assert.equal(Buffer.from(c.logprobs.content.flatMap(t => t.bytes)).toString("utf8"), c.message.content);
    for (const t of c.logprobs.content) assert.equal(textOf([t.token]), Buffer.from(t.bytes).toString("utf8"));
    for (const t of c.logprobs.content) {
      assert.ok(t.logprob <= 0);
      assert.equal(t.top_logprobs.length, 2);
      assert.ok(Array.isArray(t.bytes));
    }
  }
});

test("a chat request without max_tokens, as the client sends it by default, runs to its end", async () => {
  const args = { model: "contract", messages: [{ role: "user", content: "What is the state of the union?" }], seed: 11 };
  const r = await client.chat.completions.create(args);
  const c = r.choices[0];
  assert.ok(c.finish_reason === "stop" || r.usage.total_tokens === 128, c.finish_reason + " at " + r.usage.total_tokens);
  const streamed = await collect(await client.chat.completions.create({ ...args, stream: true }));
  assert.equal(streamed.texts[0], c.message.content);
  assert.equal(streamed.finish[0], c.finish_reason);
});

test("errors have OpenAI's shape and status codes", async () => {
  await assert.rejects(client.completions.create({ ...base, max_tokens: 120 }), e => {
    assert.equal(e.status, 400);
    assert.equal(e.code, "context_length_exceeded");
    assert.equal(e.param, "prompt");
    return true;
  });
  await assert.rejects(client.completions.create({ ...base, temperature: 5 }), e => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.status, 400);
    assert.equal(e.param, "temperature");
    assert.equal(e.type, "invalid_request_error");
    return true;
  });
  await assert.rejects(client.completions.create({ ...base, stop: ["a", "b", "c", "d", "e"] }), e => e.status === 400 && e.param === "stop");
  await assert.rejects(client.completions.create({ ...base, max_tokens: 100000 }), e => e.status === 400 && e.param === "max_tokens");
  await assert.rejects(client.chat.completions.create({ model: "contract", messages: [] }), e => e.status === 400);
  const wrongKey = new OpenAI({ apiKey: "sk-wrong", baseURL: server.url + "/v1", maxRetries: 0 });
  await assert.rejects(wrongKey.completions.create(base), e => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.code, "invalid_api_key");
    return true;
  });
  await assert.rejects(client.completions.create({ ...base, model: "gpt-4" }), e => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.code, "model_not_found");
    return true;
  });
  await assert.rejects(client.completions.create({ ...base, prompt: "x".repeat(70000) }), e => {
    assert.equal(e.status, 413);
    return true;
  });
  const raw = await fetch(server.url + "/v1/completions", { method: "POST", headers: { Authorization: "Bearer " + KEY }, body: "{oops" });
  assert.equal(raw.status, 400);
  const body = await raw.json();
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
});

test("an error during generation: 500 whole, an error object in the stream", async () => {
  const overflow = { ...base, temperature: 1e-40 }; // 1 / temperature overflows float32: the logits become infinite
  await assert.rejects(client.completions.create(overflow), e => e.status === 500 && /overflows/.test(e.message));
  const stream = await client.completions.create({ ...overflow, stream: true });
  await assert.rejects(collect(stream), e => {
    assert.ok(e instanceof OpenAI.APIError);
    assert.match(e.message, /overflows/);
    return true;
  });
});

test("a full queue answers 429 with Retry-After", async () => {
  const small = await startServer(["--max-batch", "1", "--max-queue", "1"]);
  try {
    const c = new OpenAI({ apiKey: "none", baseURL: small.url + "/v1", maxRetries: 0 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
      c.completions.create({ ...base, max_tokens: 100, seed: i })));
    const refused = results.filter(r => r.status === "rejected");
    assert.ok(refused.length >= 1, "some were turned away");
    for (const r of refused) {
      assert.ok(r.reason instanceof OpenAI.RateLimitError, String(r.reason));
      assert.equal(r.reason.headers.get("retry-after"), "1");
    }
    assert.ok(results.some(r => r.status === "fulfilled"), "the admitted ones finish");
  } finally {
    assert.equal(await stopServer(small), 0);
  }
});
