// The playground page in a real headless Chromium (Debian's): load it, submit a prompt, see streamed text arrive,
// use the chat view, and take screenshots (target/playground*.png).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, stopServer, ROOT } from "./common.mjs";

const BROWSER = process.env.CHROMIUM || "/usr/bin/chromium";

test("the playground streams a completion and a chat reply in headless Chromium", async t => {
  if (!existsSync(BROWSER)) {
    t.skip(BROWSER + " is not installed (apt-get install -y chromium); the playground was not tested");
    return;
  }
  const server = await startServer([]);
  let browser = null;
  try {
    // headless, with a fresh profile of its own (Playwright's); nothing reaches out (no network beyond loopback)
    browser = await chromium.launch({ executablePath: BROWSER, headless: true, args: ["--no-sandbox",
      "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
      "--disable-sync"] });
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const requests = [];
    page.on("request", r => requests.push(r.url()));
    mkdirSync(join(ROOT, "target"), { recursive: true });
    await page.goto(server.url + "/");
    await page.waitForSelector("#health.ok");
    await page.waitForFunction(() => document.querySelector("#model").options.length > 0);
    assert.equal(await page.inputValue("#model"), "contract");
    assert.equal(await page.inputValue("#temperature"), "0.8", "the model's defaults fill the settings");
    await page.fill("#prompt", "The state of the union");
    await page.fill("#max_tokens", "40");
    await page.click("#generate");
    await page.waitForFunction(() => document.querySelector("#generated").textContent.length > 0);
    const early = await page.textContent("#generated");
    await page.waitForFunction(() => /finish reason/.test(document.querySelector("#stats").textContent));
    const stats = await page.textContent("#stats");
    assert.match(stats, /tokens\/s/);
    assert.match(stats, /finish reason: (length|stop)/);
    const text = await page.textContent("#generated");
    assert.ok(text.startsWith(early) && text.length >= early.length, "the text grew as it streamed");
    await page.screenshot({ path: join(ROOT, "target", "playground.png"), fullPage: true });
    await page.click("#tab-chat");
    await page.fill("#chat-input", "Hello there");
    await page.click("#send");
    await page.waitForFunction(() => document.querySelectorAll("#chatlog .msg.assistant").length === 1
      && document.querySelector("#send").disabled === false);
    assert.ok((await page.textContent("#chatlog .msg.assistant")).length > "assistant".length);
    await page.screenshot({ path: join(ROOT, "target", "playground-chat.png"), fullPage: true });
    assert.ok(requests.every(u => u.startsWith(server.url)), "no external assets: " + requests.join(", "));
  } finally {
    if (browser) await browser.close();
    await stopServer(server);
  }
});
