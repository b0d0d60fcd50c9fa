#!/usr/bin/env node
// Import BPMN files into bpmn-js (Modeler + camunda-bpmn-moddle) in headless Chromium.
//
//   node tools/bpmnjs/check.mjs FILE... [--png-dir DIR] [--scale N]
//
// Prints one JSON line per file: {"file", "ok", "warnings": [...], "error"} (plus "png" when a
// picture was written). ok is true only if importXML succeeded with no warnings and the page
// raised nothing. With --png-dir, writes DIR/<file stem>.png: the whole diagram fitted into the
// view (never enlarged past 100 %), white background, device scale --scale (default 2).
//
// Exit status: 0 all files ok; 1 some file had an import error or a warning; 2 usage error or
// the browser could not be started.
//
// No network: the page and its assets are file:// URLs inside this folder's node_modules, and
// every other request is aborted (and reported as a warning). Chromium is Debian's
// /usr/bin/chromium, or the one named by TICKETFLOW_CHROMIUM.

import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const PAGE_URL = pathToFileURL(join(HERE, 'page.html')).href;
const CAMUNDA_JSON = join(HERE, 'node_modules', 'camunda-bpmn-moddle', 'resources', 'camunda.json');
const CHROMIUM = process.env.TICKETFLOW_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const IMPORT_TIMEOUT_MS = 60_000;
const PADDING = 20;          // CSS px of white around the drawing
const WATERMARK = 60;        // CSS px kept free at the bottom for the bpmn.io watermark
const MAX_VIEW = 4096;       // largest viewport side in CSS px; bigger diagrams are zoomed out

function usage(msg) {
  if (msg) process.stderr.write(`check.mjs: ${msg}\n`);
  process.stderr.write('usage: node check.mjs FILE... [--png-dir DIR] [--scale N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const files = [];
  let pngDir = null;
  let scale = 2;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--png-dir' || a === '--scale') {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      const v = argv[++i];
      if (a === '--png-dir') pngDir = v; else scale = Number(v);
    } else if (a.startsWith('--png-dir=')) {
      pngDir = a.slice('--png-dir='.length);
    } else if (a.startsWith('--scale=')) {
      scale = Number(a.slice('--scale='.length));
    } else if (a === '-h' || a === '--help') {
      usage();
    } else if (a.startsWith('--')) {
      usage(`unknown option ${a}`);
    } else {
      files.push(a);
    }
  }
  if (!files.length) usage('no BPMN files given');
  if (!(scale > 0 && scale <= 4)) usage('--scale must be a number in (0, 4]');
  return { files, pngDir, scale };
}

function emit(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const { files, pngDir, scale } = parseArgs(process.argv.slice(2));

  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    return fatal(files, `playwright-core is not installed (run: npm ci --prefix ${HERE}): ${err.message}`);
  }
  if (!existsSync(CAMUNDA_JSON)) {
    return fatal(files, `node_modules missing (run: npm ci --prefix ${HERE})`);
  }
  if (!existsSync(CHROMIUM)) {
    return fatal(files, `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set TICKETFLOW_CHROMIUM)`);
  }
  const camunda = JSON.parse(readFileSync(CAMUNDA_JSON, 'utf8'));
  if (pngDir) mkdirSync(pngDir, { recursive: true });

  // A fresh profile for this run, removed afterwards.
  const userDataDir = mkdtempSync(join(tmpdir(), 'ticketflow-bpmnjs-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1600, height: 1000 },
      deviceScaleFactor: scale,
      offline: true,
    });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    return fatal(files, `could not start Chromium (${CHROMIUM}): ${err.message.split('\n')[0]}`);
  }

  let failed = false;
  const pngNames = new Map();
  try {
    const page = context.pages()[0] || (await context.newPage());
    let pageProblems = { errors: [], warnings: [] };
    page.on('pageerror', (err) => pageProblems.errors.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageProblems.warnings.push(`console error: ${msg.text()}`);
    });
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      pageProblems.warnings.push(`blocked network request: ${url}`);
      return route.abort('blockedbyclient');
    });

    for (const file of files) {
      const result = { file, ok: false, warnings: [], error: null };
      pageProblems = { errors: [], warnings: [] };
      try {
        let xml;
        try {
          xml = readFileSync(file, 'utf8');
        } catch (err) {
          throw new Error(`cannot read file: ${err.message}`);
        }
        await page.setViewportSize({ width: 1600, height: 1000 });
        await page.goto(PAGE_URL, { waitUntil: 'load' });
        const r = await withTimeout(
          page.evaluate(([x, c]) => window.ticketflowImport(x, c), [xml, camunda]),
          IMPORT_TIMEOUT_MS, 'importXML');
        result.warnings.push(...r.warnings);
        result.error = r.error;
        if (r.ok && pngDir) {
          const stem = basename(file, extname(file));
          if (pngNames.has(stem)) {
            result.warnings.push(`png name ${stem}.png also used by ${pngNames.get(stem)}; overwritten`);
          }
          pngNames.set(stem, file);
          const box = await page.evaluate(() => window.ticketflowBBox());
          const width = Math.min(MAX_VIEW, Math.max(200, Math.ceil(box.width + 2 * PADDING)));
          const height = Math.min(MAX_VIEW,
            Math.max(150, Math.ceil(box.height + 2 * PADDING + WATERMARK)));
          await page.setViewportSize({ width, height });
          await page.evaluate(([p, w]) => window.ticketflowFit(p, w), [PADDING, WATERMARK]);
          await page.waitForTimeout(100); // let the re-laid-out SVG paint
          const out = resolve(pngDir, `${stem}.png`);
          await page.screenshot({ path: out, type: 'png' });
          result.png = out;
        }
      } catch (err) {
        result.error = result.error || err.message.split('\n')[0];
      }
      result.warnings.push(...pageProblems.warnings);
      if (pageProblems.errors.length) {
        result.error = [result.error, ...pageProblems.errors].filter(Boolean).join('; ');
      }
      result.ok = !result.error && result.warnings.length === 0;
      if (!result.ok) failed = true;
      emit(result);
    }
  } finally {
    await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

function fatal(files, message) {
  process.stderr.write(`check.mjs: ${message}\n`);
  for (const file of files) emit({ file, ok: false, warnings: [], error: message });
  process.exitCode = 2;
}

main().catch((err) => {
  process.stderr.write(`check.mjs: ${err.stack || err}\n`);
  process.exitCode = 2;
});
