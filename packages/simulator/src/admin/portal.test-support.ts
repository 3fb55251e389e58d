// Browser test helpers for the portal: Chromium, the page's readiness, screenshots at the two sizes the issue
// names, and the layout check (no element outside its card, no sideways scrolling), measured with layout boxes.
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBrowser } from "@skittlesorter/test-utils";
import { type Browser, chromium, type Page } from "playwright-core";
import { expect } from "vitest";
import { waitFor } from "../sim.test-support.ts";

export const VIEWPORTS = [
  { name: "desktop", width: 1400, height: 1000 },
  { name: "phone", width: 390, height: 844 },
] as const;

/** Screenshots go here (never committed): one folder per test file. */
export async function screenshotDir(name: string): Promise<string> {
  const dir = join(tmpdir(), "skittle-sim-portal-screenshots", name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Chromium, Chrome or Edge from $CHROME_PATH or the usual places. */
export async function launchBrowser(): Promise<Browser> {
  const search = findBrowser({ env: process.env });
  if (!search.found) throw new Error(`The portal browser tests need a browser. ${search.message}`);
  return chromium.launch({
    executablePath: search.path,
    timeout: 60_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Opens `hash` (e.g. `#/devices`) and waits until the view has rendered. */
export async function openView(page: Page, hash: string): Promise<void> {
  await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
  await waitForExpression(
    page,
    `document.body.dataset.ready === "true" && document.getElementById("view").dataset.ready === "true"`,
  );
}

/**
 * Waits until the JavaScript `expression` is truthy in the page. Polled from here: the page's content security
 * policy (no eval) rules out `page.waitForFunction` with a string.
 */
export async function waitForExpression(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `${expression} in the page`,
    async () => ((await page.evaluate(expression)) ? true : undefined),
    timeoutMs,
  );
}

/**
 * Runs in the page: every element of every card lies inside the card's box; no card, table wrapper or JSON block
 * scrolls sideways; the page itself does not scroll sideways. Answers the offenders, described.
 */
const LAYOUT_PROBLEMS = `(() => {
  const problems = [];
  const describe = (node) => node.tagName.toLowerCase() + (node.id ? "#" + node.id : "") +
    (node.dataset.testid ? "[" + node.dataset.testid + "]" : "") + (node.className && typeof node.className === "string" ? "." + node.className.split(" ").join(".") : "");
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) problems.push("page scrolls sideways: " + root.scrollWidth + " > " + root.clientWidth);
  for (const card of document.querySelectorAll("section.card")) {
    const name = card.getAttribute("aria-label") ?? describe(card);
    const box = card.getBoundingClientRect();
    if (card.scrollWidth > card.clientWidth + 1) problems.push(name + ": card scrolls sideways " + card.scrollWidth + " > " + card.clientWidth);
    for (const scroller of card.querySelectorAll(".table-wrap, pre, table")) {
      if (scroller.scrollWidth > scroller.clientWidth + 1) problems.push(name + ": " + describe(scroller) + " scrolls sideways " + scroller.scrollWidth + " > " + scroller.clientWidth);
    }
    for (const node of card.querySelectorAll("*")) {
      const rect = node.getBoundingClientRect();
      if (rect.width === 0 && rect.height === 0) continue;
      if (rect.left < box.left - 1 || rect.right > box.right + 1) {
        problems.push(name + ": " + describe(node) + " spans " + Math.round(rect.left) + "–" + Math.round(rect.right) + " outside the card's " + Math.round(box.left) + "–" + Math.round(box.right));
      }
    }
  }
  return problems;
})()`;

/** Runs in the page: form controls without a label, buttons and links without text. */
const UNLABELLED = `[...document.querySelectorAll("input, select, textarea, button, a")].filter((node) =>
  ["INPUT", "SELECT", "TEXTAREA"].includes(node.tagName)
    ? node.labels.length === 0 && !node.getAttribute("aria-label")
    : node.textContent.trim() === "" && !node.getAttribute("aria-label")
).map((node) => node.outerHTML.slice(0, 120))`;

export function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(LAYOUT_PROBLEMS) as Promise<string[]>;
}

/**
 * At each viewport: a full-page screenshot of the view in `dir`, and no element overflowing its card; every control
 * labelled.
 */
export async function checkViewLayout(page: Page, dir: string, view: string): Promise<void> {
  for (const viewport of VIEWPORTS) {
    await page.setViewportSize({ width: viewport.width, height: viewport.height });
    // One frame for the layout to follow the new size.
    await page.evaluate("new Promise((resolve) => requestAnimationFrame(() => resolve()))");
    await page.screenshot({ path: join(dir, `${view}-${viewport.name}.png`), fullPage: true });
    expect(await layoutProblems(page), `${view} at ${viewport.width}×${viewport.height}`).toEqual([]);
  }
  await page.setViewportSize({ width: VIEWPORTS[0].width, height: VIEWPORTS[0].height });
  expect(await page.evaluate(UNLABELLED), `${view}: controls without a label`).toEqual([]);
}

/** Text of the first element matching `selector`. */
export async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? "";
}

/** Waits until the text of `selector` matches `pattern`. */
export async function waitForText(
  page: Page,
  selector: string,
  pattern: RegExp,
  timeout = 15_000,
): Promise<void> {
  await page.locator(selector).filter({ hasText: pattern }).first().waitFor({ timeout });
}
