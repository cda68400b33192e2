// Drives an explorer page in Debian's chromium (headless) through Playwright, as a person would: drags the
// point over the plane, moves sliders, clicks labels; reads back what the page decoded and what its canvas
// shows. Used by tests/test_explore.py, bench/explorer.py and the README's screenshot.
//
//   node web/drive.mjs URL STEPS.json OUT.json
//
// STEPS.json: [{"drag": [fx, fy]} (a point of the plane, as fractions of its width and height from the
// top left), {"slider": [i, value]}, {"label": k}, {"read": true}, {"bench": count},
// {"screenshot": "file.png"}, {"click": "#id"}, {"boxes": "css selector"}]. OUT.json: {"reads": [{z, label, image,
// canvas}], "bench": [ms], "boxes": [[{x, y, width, height}]], "error"}.
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, stepsFile, outFile] = process.argv.slice(2);
const steps = JSON.parse(readFileSync(stepsFile, "utf8"));
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const out = { reads: [], bench: [], boxes: [] };
try {
  const page = await browser.newPage({ viewport: { width: 720, height: 470 } });
  await page.goto(url);
  await page.waitForFunction(() => window.explorer && (window.explorer.ready || window.explorer.error), null,
                             { timeout: 60000 });
  out.error = await page.evaluate(() => window.explorer.error || null);
  for (const step of out.error ? [] : steps) {
    if (step.drag) {
      const box = await page.locator("#plane").boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + step.drag[0] * box.width, box.y + step.drag[1] * box.height, { steps: 8 });
      await page.mouse.up();
    } else if (step.slider) {
      const [index, value] = step.slider;
      await page.locator("#sliders input").nth(index).evaluate((input, v) => {
        input.value = v;
        input.dispatchEvent(new Event("input", { bubbles: true }));
      }, value);
    } else if (step.label !== undefined) {
      await page.locator("#classes button").nth(step.label).click();
    } else if (step.read) {
      out.reads.push(await page.evaluate(() => {
        const canvas = document.getElementById("image");
        const rgba = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        // Gray images: one level a pixel (the red channel); colour: R, G, B a pixel, as lastImage holds them.
        const channels = window.explorer.lastImage.length / (canvas.width * canvas.height);
        const canvasValues = [];
        for (let i = 0; i < canvas.width * canvas.height; i++) {
          for (let c = 0; c < channels; c++) canvasValues.push(rgba[4 * i + c]);
        }
        return { z: window.explorer.z, label: window.explorer.label, image: Array.from(window.explorer.lastImage),
                 canvas: canvasValues };
      }));
    } else if (step.bench) {
      out.bench.push(await page.evaluate((count) => window.explorer.benchmark(count), step.bench));
    } else if (step.screenshot) {
      await page.screenshot({ path: step.screenshot });
    } else if (step.click) {
      await page.locator(step.click).click();
    } else if (step.boxes) {
      const found = page.locator(step.boxes);
      out.boxes.push(await Promise.all(Array.from({ length: await found.count() }, (_, i) => found.nth(i).boundingBox())));
    }
  }
} finally {
  await browser.close();
}
writeFileSync(outFile, JSON.stringify(out));
