#!/usr/bin/env node
// A stand-in for Prisma's native `schema-engine` binary, for machines that cannot download it.
// driftbot's conformance suite copies this file into each Prisma 7 install folder
// (tests/conformance/prisma7_cli.py); it follows ../shared/tools/prisma7/setup's shim.
// Prisma 7's CLI only knows the native engine: it spawns PRISMA_SCHEMA_ENGINE_BINARY with
//   --datamodels FILE... --datasource '{"url":...,"shadowDatabaseUrl":...}'
// and talks JSON-RPC 2.0 over stdin/stdout (one JSON object a line), or runs
//   --datasource '{"url":...}' cli can-connect-to-database|create-database|drop-database
// This shim answers the same protocol with the WebAssembly build of the same engine
// (@prisma/schema-engine-wasm's JS glue + the schema_engine_bg.wasm that prisma ships in build/)
// and @prisma/adapter-pg (the driver adapter Prisma 6.19's `engine: "js"` mode used).
// It is NOT the native engine: connection handling and script execution are the adapter's.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const HERE = path.dirname(new URL(import.meta.url).pathname);
const debug = process.env.SHIM_DEBUG ? (...a) => process.stderr.write("[shim] " + a.join(" ") + "\n") : () => {};

function enginesHash() {
  try { return require("@prisma/engines-version/package.json").prisma.enginesVersion; } catch { return "unknown"; }
}

// ---- arguments ---------------------------------------------------------------------------
const argv = process.argv.slice(2);
if (argv.includes("--version") || argv.includes("-V")) {
  process.stdout.write(`schema-engine-cli ${enginesHash()}\n`);
  process.exit(0);
}
const datamodelPaths = [];
let datasource = null, cliCommand = null, previewFeatures = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--datamodels" || a === "-d") datamodelPaths.push(argv[++i]);
  else if (a === "--datasource") datasource = JSON.parse(argv[++i]);
  else if (a === "--enabled-preview-features") previewFeatures = argv[++i].split(",");
  else if (a === "--extension-types") i++;
  else if (a === "cli") cliCommand = argv[++i];
}

function pgConfig(url) {
  const u = new URL(url);
  const cfg = {
    host: decodeURIComponent(u.hostname) || "127.0.0.1",
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres",
    idleTimeoutMillis: 50,
  };
  const host = u.searchParams.get("host");
  if (host) cfg.host = host;
  return { cfg, schema: u.searchParams.get("schema") || undefined };
}

function logLine(level, message, extra = {}) {
  return JSON.stringify({ timestamp: new Date().toISOString(), level, fields: { message, ...extra }, target: "schema_engine::logger" });
}

// ---- `cli` subcommands (ensureDatabaseExists & co) --------------------------------------
if (cliCommand) {
  const pg = require("pg");
  const { cfg } = pgConfig(datasource.url);
  const fail = (code, message) => {
    process.stderr.write(logLine("INFO", "Starting schema engine CLI") + "\n" + logLine("ERROR", message, { error_code: code }) + "\n");
    process.exit(1);
  };
  const where = `${cfg.host}:${cfg.port}`;
  try {
    if (cliCommand === "can-connect-to-database") {
      const c = new pg.Client(cfg);
      try { await c.connect(); await c.end(); }
      catch (e) {
        if (e.code === "3D000") fail("P1003", `Database \`${cfg.database}\` does not exist on the database server at \`${where}\`.`);
        fail("P1001", `Can't reach database server at \`${where}\`\n\nPlease make sure your database server is running at \`${where}\`.`);
      }
    } else if (cliCommand === "create-database" || cliCommand === "drop-database") {
      const c = new pg.Client({ ...cfg, database: "postgres" });
      await c.connect();
      const q = `${cliCommand === "create-database" ? "CREATE" : "DROP"} DATABASE "${cfg.database.replace(/"/g, '""')}"`;
      await c.query(q); await c.end();
      if (cliCommand === "create-database") process.stdout.write(JSON.stringify({ database_name: cfg.database }) + "\n");
    } else fail("P1000", `unknown cli command ${cliCommand}`);
  } catch (e) { fail("P1000", String(e.message || e)); }
  process.exit(0);
}

// ---- the WebAssembly engine -------------------------------------------------------------
globalThis.PRISMA_WASM_PANIC_REGISTRY = {
  message: "",
  get() { return this.message; },
  set_message(m) { this.message = `RuntimeError: ${m}`; },
};
// SHIM_SCHEMA_ENGINE_PKG: an unpacked @prisma/schema-engine-wasm folder (glue and wasm of one engine build)
const PKG = process.env.SHIM_SCHEMA_ENGINE_PKG;
const gluePath = PKG ? path.join(PKG, "schema_engine_bg.js") : require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
const glue = await import(pathToFileURL(gluePath).href);
const wasmPath = process.env.SHIM_SCHEMA_ENGINE_WASM
  || (PKG && path.join(PKG, "schema_engine_bg.wasm"))
  || path.join(path.dirname(require.resolve("prisma/package.json")), "build", "schema_engine_bg.wasm");
const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmPath)), { "./schema_engine_bg.js": glue });
glue.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();

const { PrismaPg } = require("@prisma/adapter-pg");
const { bindMigrationAwareSqlAdapterFactory } = require("@prisma/driver-adapter-utils");

function makeFactory() {
  if (!datasource || !datasource.url) return null;
  const main = pgConfig(datasource.url);
  const mainFactory = new PrismaPg(main.cfg, main.schema ? { schema: main.schema } : undefined);
  let factory = mainFactory;
  if (datasource.shadowDatabaseUrl) {
    const sh = pgConfig(datasource.shadowDatabaseUrl);
    const shadowFactory = new PrismaPg(sh.cfg, sh.schema ? { schema: sh.schema } : undefined);
    factory = {
      provider: mainFactory.provider,
      adapterName: mainFactory.adapterName,
      connect: () => mainFactory.connect(),
      // the native engine resets a configured shadow database before it replays the migrations
      connectToShadowDb: async () => {
        const c = new (require("pg").Client)(sh.cfg);
        await c.connect();
        const s = (sh.schema || "public").replace(/"/g, '""');
        await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE; CREATE SCHEMA "${s}";`);
        await c.end();
        return shadowFactory.connect();
      },
    };
  }
  return bindMigrationAwareSqlAdapterFactory(factory);
}

const datamodels = datamodelPaths.length
  ? datamodelPaths.map((p) => [p, fs.readFileSync(path.resolve(p), "utf8")])
  : undefined;
const factory = makeFactory();
let engine;
try {
  engine = await glue.SchemaEngine.new({ datamodels }, (msg) => debug("engine:", msg), factory);
} catch (e) {
  process.stderr.write(logLine("ERROR", String(e.message || e)) + "\n");
  process.exit(1);
}

// ---- JSON-RPC -----------------------------------------------------------------------------
const METHOD = { getDatabaseVersion: "version" };
let printId = 1e9;
const pendingPrints = new Map();
const send = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function rpcError(e) {
  const generic = "An error happened. Check the data field for details.";
  if (e && e.name === "RuntimeError") {
    const msg = globalThis.PRISMA_WASM_PANIC_REGISTRY.get() || String(e.message);
    return { code: 4466, message: generic, data: { is_panic: true, message: msg, backtrace: e.stack } };
  }
  if (e && typeof e.code === "string" && /^P\d{4}$/.test(e.code)) {
    return { code: 4466, message: generic, data: { is_panic: false, message: e.message, meta: e.meta ?? null, error_code: e.code } };
  }
  let message = String(e && e.message ? e.message : e);
  if (e && e.cause) message += `\n${e.cause.message ?? JSON.stringify(e.cause)}`;
  return { code: 4466, message: generic, data: { is_panic: false, message, meta: null, error_code: null } };
}

async function handle(req) {
  const method = METHOD[req.method] ?? req.method;
  debug("request", req.method, JSON.stringify(req.params ?? null).slice(0, 300));
  try {
    if (typeof engine[method] !== "function") throw new Error(`method ${req.method} not supported by the wasm shim`);
    const result = await engine[method](req.params ?? undefined);
    if (req.method === "diff" && result && typeof result.stdout === "string") {
      // the native engine prints through a `print` request to the CLI, then answers with stdout null
      const id = printId++;
      await new Promise((resolve) => { pendingPrints.set(id, resolve); send({ jsonrpc: "2.0", id, method: "print", params: { content: result.stdout } }); });
      send({ jsonrpc: "2.0", id: req.id, result: { exitCode: result.exitCode, stdout: null } });
      return;
    }
    send({ jsonrpc: "2.0", id: req.id, result: result === undefined ? null : result });
  } catch (e) {
    debug("error", e && e.stack);
    send({ jsonrpc: "2.0", id: req.id, error: rpcError(e) });
  }
}

const inflight = new Set();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.method === undefined && pendingPrints.has(msg.id)) { pendingPrints.get(msg.id)(); pendingPrints.delete(msg.id); return; }
  const p = handle(msg).finally(() => inflight.delete(p));
  inflight.add(p);
});
rl.on("close", async () => {
  await Promise.allSettled([...inflight]);
  process.exit(0);
});
