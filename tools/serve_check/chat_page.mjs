// Loads lineage serve's chat page in headless Chromium (Debian's, via playwright-core),
// sends a message, waits for a streamed reply, takes a screenshot.
// Usage: node chat_page.mjs URL SCREENSHOT.png ; prints the reply.
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const external = [];
  page.on("request", r => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent !== "…");
  await page.fill("#input", "What is the capital of France?");
  await page.click("#send");
  // Streaming: the reply grows while the Stop button is live, then Send comes back.
  await page.waitForFunction(() => document.querySelector(".assistant")?.textContent.length > 0);
  const partial = await page.textContent(".assistant");
  await page.waitForFunction(() => !document.getElementById("send").disabled, null, { timeout: 60000 });
  const reply = await page.textContent(".assistant");
  await page.screenshot({ path: shot });
  const model = await page.textContent("#model");
  const speed = await page.textContent("#speed");
  console.log(JSON.stringify({ partial, reply, model, speed, external }));
} finally {
  await browser.close();
}
