// A bounded load test: 64 concurrent streaming clients with mixed lengths, some disconnecting midway, against a
// batch of 16 and a queue of 16. Those turned away get 429 with Retry-After and retry (as OpenAI's client does, it
// honours the header); every completed response equals the same request run alone; no request is lost or
// duplicated; the server's memory stays bounded; time to first token and per-token latency are reported.
// Then SIGTERM: the running requests finish, a new one gets 503, and the server exits 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer, stopServer, rssMiB, percentile } from "./common.mjs";

const CLIENTS = 64, QUITTERS = 8, MAX_BATCH = 16, MAX_QUEUE = 16, QUITTER_TOKENS = 110; // context 128: a prompt and its max_tokens must fit
const lengths = [8, 24, 48, 96];
const prompts = ["The state of the union", "War and peace", "Congress", "Our people", "The law of the nation is"];

function request(i) {
  return { model: "contract", prompt: prompts[i % prompts.length], max_tokens: lengths[i % lengths.length],
    temperature: 0.8, top_p: 0.95, seed: 1000 + i };
}

test("64 concurrent streams: batched answers equal solo ones, 429 beyond the queue, bounded memory", async () => {
  const server = await startServer(["--max-batch", String(MAX_BATCH), "--max-queue", String(MAX_QUEUE)]);
  const client = new OpenAI({ apiKey: "none", baseURL: server.url + "/v1", maxRetries: 0 });
  // the 64 retry a 429 (the client waits as Retry-After says); the fetch below counts and checks each 429
  let busy = 0;
  const attempt = new Map(); // seed -> when its last attempt was sent
  const counting = async (url, init) => {
    attempt.set(JSON.parse(init.body).seed, performance.now());
    const r = await fetch(url, init);
    if (r.status === 429) {
      busy++;
      assert.equal(r.headers.get("retry-after"), "1");
    }
    return r;
  };
  const patient = new OpenAI({ apiKey: "none", baseURL: server.url + "/v1", maxRetries: 50, fetch: counting });
  const rss = [];
  const sampler = setInterval(() => rss.push(rssMiB(server.proc.pid)), 100);
  try {
    rss.push(rssMiB(server.proc.pid));
    const ttft = [], admittedTtft = [], perToken = [], ids = new Set();
    const runs = Array.from({ length: CLIENTS }, async (_, i) => {
      // 8 of them leave after their first chunk, of the longest generation the context allows (so that a busy
      // machine's late reader still leaves while its request runs)
      const quitter = i % (CLIENTS / QUITTERS) === 3;
      const t0 = performance.now();
      const stream = await patient.completions.create({ ...request(i), stream: true,
        ...(quitter ? { max_tokens: QUITTER_TOKENS } : {}) });
      let text = "", first = null, last = null, chunks = 0, finish = null, id = null;
      for await (const chunk of stream) {
        id = chunk.id;
        const c = chunk.choices[0];
        if (!c) continue;
        const now = performance.now();
        if (c.text) { if (first === null) first = now; last = now; }
        text += c.text;
        chunks++;
        if (c.finish_reason) finish = c.finish_reason;
        if (quitter) return { i, quit: true }; // leaving the loop aborts the request
      }
      if (first !== null) {
        ttft.push(first - t0);
        admittedTtft.push(first - attempt.get(request(i).seed));
      }
      return { i, text, finish, id, tokensTime: last - first, quit: false };
    });
    const results = await Promise.all(runs);
    // 64 at once against a batch and a queue of 16 each: the rest were turned away, and came back
    assert.ok(busy >= 1, "a full queue answers 429");
    const done = results.filter(r => !r.quit);
    assert.equal(results.length, CLIENTS, "no request is lost");
    assert.equal(done.length, CLIENTS - QUITTERS);
    for (const r of done) {
      assert.ok(r.finish === "length" || r.finish === "stop", "every stream ends with a finish reason");
      assert.ok(!ids.has(r.id), "no response is duplicated");
      ids.add(r.id);
    }
    // the quitters' generations were cancelled, and nothing is left running (the server counts a request just
    // after its last byte: wait for the counts to settle)
    let metrics = "";
    const value = name => Number((metrics.match(new RegExp("^" + name.replace(/[{}"]/g, "\\$&") + " (\\S+)$", "m")) || [])[1]);
    const answered = status => value(`lumenspark_requests_total{endpoint="/v1/completions",status="${status}"}`);
    for (let wait = 0; wait < 100; wait++) {
      metrics = await (await fetch(server.url + "/metrics")).text();
      if (value('lumenspark_running_sequences{model="contract"}') === 0 && answered(200) + answered(499) === CLIENTS) break;
      await new Promise(r => setTimeout(r, 100));
    }
    assert.equal(value('lumenspark_running_sequences{model="contract"}'), 0);
    assert.equal(value('lumenspark_queue_depth{model="contract"}'), 0);
    assert.equal(answered(429), busy);
    // a quitter whose whole answer was written before it left (its reader late on a busy machine) was answered
    assert.equal(answered(200) + answered(499), CLIENTS, "each request was answered once");
    assert.ok(answered(200) >= CLIENTS - QUITTERS, "each completed request was answered");
    assert.ok(answered(499) >= 1, "disconnects were seen: " + answered(499));
    // (a quitter that leaves just after its last token was chosen is answered 499 with nothing left to cancel)
    const cancelled = value('lumenspark_cancelled_sequences_total{model="contract"}');
    assert.ok(cancelled >= 1 && cancelled <= answered(499), `disconnects cancel: ${cancelled} of ${answered(499)}`);
    const batches = Number(metrics.match(/lumenspark_step_batch_size_sum\{model="contract"\} (\S+)/)[1])
      / Number(metrics.match(/lumenspark_step_batch_size_count\{model="contract"\} (\S+)/)[1]);
    assert.ok(batches > 2, "steps ran in batches: mean " + batches);

    // each completed response equals the same request run alone, one at a time
    for (const r of done) {
      const alone = await client.completions.create(request(r.i));
      assert.equal(r.text, alone.choices[0].text, "request " + r.i);
      assert.equal(r.finish, alone.choices[0].finish_reason);
      perToken.push(r.tokensTime / Math.max(1, alone.usage.completion_tokens - 1));
    }
    clearInterval(sampler);
    const peak = Math.max(...rss), startRss = rss[0];
    console.log(`load: ${CLIENTS} streams (${QUITTERS} disconnecting), mean batch ${batches.toFixed(1)}, `
      + `TTFT p50 ${percentile(ttft, 50).toFixed(0)} ms p99 ${percentile(ttft, 99).toFixed(0)} ms (retries included; `
      + `from the admitted attempt p50 ${percentile(admittedTtft, 50).toFixed(0)} ms p99 ${percentile(admittedTtft, 99).toFixed(0)} ms), `
      + `per token p50 ${percentile(perToken, 50).toFixed(1)} ms p99 ${percentile(perToken, 99).toFixed(1)} ms, `
      + `RSS ${startRss.toFixed(0)} -> peak ${peak.toFixed(0)} MiB, ${busy} answers 429 (retried)`);
    assert.ok(peak < startRss + 1024, `memory stays bounded: ${startRss} -> ${peak} MiB`);

    // SIGTERM drains: running and queued requests finish, a new one gets 503, exit code 0. A full batch and a
    // full queue of long generations: the drain lasts two of them, time for the checks below on a busy machine
    const longOnes = from => Promise.all(Array.from({ length: MAX_QUEUE }, (_, k) =>
      client.completions.create({ ...request(from + k), max_tokens: 110, stream: true })));
    const long = await longOnes(0); // queued together, then admitted into the batch
    for (let wait = 0; ; wait++) {
      metrics = await (await fetch(server.url + "/metrics")).text();
      if (value('lumenspark_queue_depth{model="contract"}') === 0) break;
      assert.ok(wait < 10_000, "the batch takes the queued requests");
      await new Promise(r => setTimeout(r, 1));
    }
    long.push(...await longOnes(MAX_QUEUE)); // the queue behind them
    const signalled = performance.now();
    let exited = NaN;
    const exit = stopServer(server).then(code => { exited = performance.now() - signalled; return code; });
    // the signal reaches the JVM's hook a few tens of milliseconds later; from then on /health says "draining"
    // (a fixed wait raced the drain itself, which takes only a couple of hundred milliseconds on a warm server)
    for (;;) {
      const health = await fetch(server.url + "/health").catch(e =>
        assert.fail("the server stopped answering before it said it drains (" + e.message + "):\n" + server.stderr()));
      await health.arrayBuffer(); // read, so that the connection is reused
      if (health.status === 503) break;
      assert.ok(Number.isNaN(exited) && performance.now() - signalled < 10_000,
        "the server says it drains within 10 s of SIGTERM, before it exits:\n" + server.stderr());
      await new Promise(r => setTimeout(r, 1));
    }
    const draining = performance.now() - signalled;
    await assert.rejects(client.completions.create(request(2)), e => e.status === 503);
    for (const stream of long) {
      let finish = null;
      for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
      assert.ok(finish === "length" || finish === "stop", "a running request finished");
    }
    assert.equal(await exit, 0);
    console.log(`drain: draining ${draining.toFixed(0)} ms after SIGTERM, exited ${exited.toFixed(0)} ms after`);
  } finally {
    clearInterval(sampler);
    if (server.proc.exitCode === null) server.proc.kill("SIGKILL");
  }
});
