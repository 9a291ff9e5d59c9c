/**
 * Function shipping: source functions (checked, described, compiled back with the user's file in
 * stacks) and modules (bundled, loaded from a directory outside the repo, referenced by stubs).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TsDaskError } from "../runtime/errors.ts";
import type { ModuleDef, SourceFnDef } from "../runtime/protocol.ts";
import {
  bundleModule,
  compileSource,
  describeFunction,
  describeModuleFn,
  getModuleRef,
  installResolveHook,
  loadModule,
  makeModuleHandle,
  toFnDef,
  TSDASK_ROOT,
} from "../runtime/shipping/index.ts";
import { sha256Hex } from "../runtime/shipping/hash.ts";
import * as fns from "./fixtures/shipping/user-fns.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/shipping/", import.meta.url));
const USER_FNS = join(FIXTURES, "user-fns.ts");
const REPO = resolve(FIXTURES, "../../..");
// Outside the repo, so no node_modules above the loaded bundles.
const TMP = mkdtempSync(join(tmpdir(), "tsdask-shipping-"));

/** 1-based line of the `// @line <name>` marker in user-fns.ts. */
function markerLine(name: string): number {
  const i = readFileSync(USER_FNS, "utf8").split("\n").findIndex((l) => l.endsWith(`// @line ${name}`));
  if (i < 0) throw new Error(`no marker ${name}`);
  return i + 1;
}

/** Runs `f`, which must throw a TsDaskError with `code`; returns it. */
function throwsCode(f: () => unknown, code: string): TsDaskError {
  try {
    f();
  } catch (e) {
    assert.instance(e, TsDaskError);
    assert.is((e as TsDaskError).code, code, (e as Error).message);
    return e as TsDaskError;
  }
  assert.unreachable(`expected ${code}, nothing was thrown`);
  throw new Error("unreachable");
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<TsDaskError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, TsDaskError);
    assert.is((e as TsDaskError).code, code, (e as Error).message);
    return e as TsDaskError;
  }
  assert.unreachable(`expected ${code}, nothing was thrown`);
  throw new Error("unreachable");
}

/** Ships `fn` by source and back, as client and executor would. */
function roundTrip<F extends Function>(fn: F): F {
  return compileSource(describeFunction(fn)) as F;
}

test.after(() => rmSync(TMP, { recursive: true, force: true }));

// --- source functions: describe ------------------------------------------------------------------

test("describeFunction: a self-contained arrow, with the user's file and line", () => {
  const def = describeFunction(fns.double);
  assert.is(def.kind, "src");
  assert.is(def.name, "double");
  assert.is(def.source, "x=>x*2");
  assert.is(def.file, USER_FNS);
  assert.is(def.line, markerLine("double"));
  assert.match(def.hash, /^[0-9a-f]{64}$/);
  assert.is(roundTrip(fns.double)(21), 42);
});

test("describeFunction and toFnDef are cached per function object", () => {
  assert.is(describeFunction(fns.double), describeFunction(fns.double));
  const a = toFnDef(fns.double);
  assert.is(toFnDef(fns.double), a);
  assert.is(a.fn, describeFunction(fns.double));
  assert.is(a.module, undefined);
});

test("the same code defined in two places gets two hashes (each keeps its own location)", () => {
  const a = (x: number) => x + 1;
  const b = (x: number) => x + 1;
  const da = describeFunction(a);
  const db = describeFunction(b);
  assert.is(da.source, db.source);
  assert.is.not(da.line, db.line);
  assert.is.not(da.hash, db.hash);
});

test("without a V8 location (code from new Function), the caller's frame outside ts-dask is used", () => {
  const made = new Function("return (x) => x - 1")() as Function;
  const here = Number(/shipping\.test\.ts:(\d+)/.exec(new Error().stack!)![1]);
  const def = describeFunction(made);
  assert.is(def.file, fileURLToPath(import.meta.url));
  assert.is(def.line, here + 1);
  assert.is(describeFunction(made, { file: "/elsewhere.ts", line: 3 }), def, "cached");
  const hinted = describeFunction(new Function("return (x) => x - 2")() as Function, { file: "/elsewhere.ts", line: 3 });
  assert.equal([hinted.file, hinted.line], ["/elsewhere.ts", 3]);
});

test("closures are rejected before anything is sent, naming every captured identifier", () => {
  const e = throwsCode(() => describeFunction(fns.scaled), "ClosureCaptured");
  assert.ok(e.message.includes(`'factor', 'offset'`), e.message); // sorted, unique
  assert.ok(e.message.includes("scaled"), e.message);
  assert.ok(e.message.includes("user-fns.ts"), e.message);
  assert.ok(e.message.includes("importModule"), e.message);
  let local = 3;
  local++;
  const e2 = throwsCode(() => toFnDef((x: number) => x * local + zeta), "ClosureCaptured");
  assert.ok(e2.message.includes(`'local', 'zeta'`), e2.message);
  assert.ok(e2.message.includes("shipping.test.ts"), e2.message);
});
const zeta = 1;

test("a function declaration may call itself; an inner declared name is not a capture", () => {
  assert.is(roundTrip(fns.fact)(5), 120);
  assert.is(roundTrip((n: number) => { const sq = (y: number) => y * y; return sq(n); })(4), 16);
});

test("globals every executor has are allowed (Math, JSON, console, setTimeout, Buffer, process, fetch…)", async () => {
  const f = roundTrip(fns.usesGlobals);
  assert.equal(await f(3), [3, 7, "number", "function", 1, 3]);
  assert.is(roundTrip(() => [typeof globalThis, typeof undefined, NaN, Infinity, typeof URL, typeof crypto.randomUUID].join())(), "object,undefined,NaN,Infinity,function,function");
});

test("require, module, exports, __dirname and __filename are rejected (no ESM global has them)", () => {
  for (const name of ["require", "module", "exports", "__dirname", "__filename"]) {
    assert.not.ok(Object.getOwnPropertyNames(globalThis).includes(name), `${name} is a global here`);
    const fn = new Function(`return () => typeof ${name} === "undefined" ? 0 : ${name}`)() as Function;
    const e = throwsCode(() => describeFunction(fn), "ClosureCaptured");
    assert.ok(e.message.includes(`'${name}'`), e.message);
  }
});

test("object-literal methods (plain, async, generator, quoted key) travel", async () => {
  assert.is(describeFunction(fns.methods.plain).source, "({plain(x){return x+1}}).plain");
  assert.is(roundTrip(fns.methods.plain)(1), 2);
  assert.is(await roundTrip(fns.methods.later)(2), 6);
  assert.equal([...roundTrip(fns.methods.count)(3)], [0, 1, 2]);
  const quoted = roundTrip(fns.methods["quoted key"]);
  assert.is(quoted(5), -5);
  assert.is(quoted.name, "quoted key");
  // A method named like the global it calls must still reach the global.
  assert.is(roundTrip(fns.methods.fetch)("u"), "global fetch, u");
  const sym = { [Symbol.iterator]() { return 7; } };
  assert.is(roundTrip(sym[Symbol.iterator])(), 7);
});

test("async functions and (async) generators travel", async () => {
  assert.is(await roundTrip(async (x: number) => (await Promise.resolve(x)) + 1)(1), 2);
  const out: number[] = [];
  for await (const t of roundTrip(fns.ticks)(3)) out.push(t);
  assert.equal(out, [0, 1, 2]);
  assert.equal([...roundTrip(function* (n: number) { yield n; yield n + 1; })(1)], [1, 2]);
});

test("classes, bound and native functions, getters and setters are rejected with a reason", () => {
  assert.match(throwsCode(() => describeFunction(class Point {}), "FunctionNotShippable").message, /class/);
  assert.match(throwsCode(() => describeFunction(fns.double.bind(null)), "FunctionNotShippable").message, /bound function/);
  assert.match(throwsCode(() => describeFunction(Math.max), "FunctionNotShippable").message, /native/);
  const accessors = Object.getOwnPropertyDescriptor({ get v() { return 1; }, set v(_x: number) {} }, "v")!;
  assert.match(throwsCode(() => describeFunction(accessors.get!), "FunctionNotShippable").message, /getter/);
  assert.match(throwsCode(() => describeFunction(accessors.set!), "FunctionNotShippable").message, /setter/);
  assert.match(throwsCode(() => toFnDef(42 as unknown as Function), "FunctionNotShippable").message, /not a function/);
});

test("this, super and import.meta are rejected; an arrow's arguments is a capture", () => {
  assert.match(throwsCode(() => describeFunction(fns.methods.self), "FunctionNotShippable").message, /`this`/);
  const withSuper = { m() { return super.toString(); } };
  assert.match(throwsCode(() => describeFunction(withSuper.m), "FunctionNotShippable").message, /`super`/);
  assert.match(throwsCode(() => describeFunction(() => import.meta.url), "FunctionNotShippable").message, /import\.meta/);
  const arrowInside = (function (..._args: unknown[]) { return () => arguments.length; })(1, 2);
  assert.ok(throwsCode(() => describeFunction(arrowInside), "ClosureCaptured").message.includes(`'arguments'`));
  // A function's own `arguments`, and `this` inside a nested function, are fine.
  assert.is(roundTrip(function (_a: number, _b: number) { return arguments.length; })(1, 2), 2);
  assert.is(roundTrip(() => { const o = { v: 4, get() { return this.v; } }; return o.get(); })(), 4);
});

// --- source functions: compile on the executor ----------------------------------------------------

test("compileSource: esbuild's __name helper works and does not leak into globals", () => {
  assert.ok(describeFunction(fns.withInner).source.includes("__name("));
  assert.is(roundTrip(fns.withInner)(1), 3);
  assert.not.ok("__name" in globalThis);
});

test("compileSource: a throw inside shows the user's file and definition line, and the function's name", () => {
  const def = describeFunction(fns.throwsHere);
  const f = compileSource(def);
  assert.is(f.name, "throwsHere");
  let stack = "";
  try {
    f(7);
  } catch (e) {
    assert.instance(e, RangeError);
    assert.is((e as Error).message, "bad input 7");
    stack = (e as Error).stack ?? "";
  }
  const frame = stack.split("\n")[1] ?? "";
  assert.ok(frame.includes("throwsHere"), stack);
  assert.ok(frame.includes("user-fns.ts"), stack);
  assert.ok(frame.includes(`:${markerLine("throwsHere")}:`), stack);
});

test("compileSource: on a machine without that file loaded, the stack shows the plain path and line", () => {
  const def: SourceFnDef = { kind: "src", hash: "0".repeat(64), name: "remoteFn", source: "() => { throw new Error('x'); }", file: "/home/someone/project/calc.ts", line: 12 };
  try {
    compileSource(def)();
    assert.unreachable();
  } catch (e) {
    const frame = (e as Error).stack!.split("\n")[1]!;
    assert.match(frame, /at remoteFn \(\/home\/someone\/project\/calc\.ts:12:\d+\)/);
  }
  const anon = compileSource({ ...def, name: "", file: "", line: 0 });
  assert.throws(() => anon(), /x/);
});

// --- modules --------------------------------------------------------------------------------------

let procs: Awaited<ReturnType<typeof bundleModule>>;

test("bundleModule: inlines local imports, leaves npm imports, lists exports, hashes the code", async () => {
  procs = await bundleModule("test/fixtures/shipping/procs.ts", REPO);
  assert.equal(procs.exports, ["answer", "countStatements", "default", "explode", "squareIt"]);
  assert.is(procs.file, join(FIXTURES, "procs.ts"));
  assert.is(procs.hash, sha256Hex(procs.code));
  assert.match(procs.code, /from "acorn"/);
  assert.not.match(procs.code, /from "\.\/helpers/);
  assert.match(procs.code, /function square\(/);
  assert.match(procs.code, /\/\/# sourceMappingURL=data:application\/json;base64,/);
  assert.is(await bundleModule(join(FIXTURES, "procs.ts")), procs, "unchanged inputs: cached");
});

test("bundleModule: a missing or broken module fails with ModuleBundleFailed", async () => {
  const missing = await rejectsCode(bundleModule("nope/missing.ts", TMP), "ModuleBundleFailed");
  assert.ok(missing.message.includes("nope/missing.ts"), missing.message);
  const broken = join(TMP, "broken.ts");
  writeFileSync(broken, "export const x = ;\n");
  const e = await rejectsCode(bundleModule(broken), "ModuleBundleFailed");
  assert.ok(e.message.includes("broken.ts:1:"), e.message);
});

test("loadModule: without the resolve hook, an npm import fails from a directory outside any project", async () => {
  const code = `import { parse } from "acorn";\nexport const n = parse("1;2", { ecmaVersion: "latest" }).body.length; // before hook\n`;
  const def: ModuleDef = { hash: sha256Hex(code), file: "inline-before.mjs", code };
  try {
    await loadModule(def, TMP);
    assert.unreachable("acorn resolved without the hook");
  } catch (e) {
    assert.is((e as { code?: string }).code, "PackageNotInstalled", String(e)); // ERR_MODULE_NOT_FOUND, named with its fix
    assert.match(String(e), `client.install(["acorn"])`);
  }
});

test("loadModule: with the resolve hook, the bundle loads from a temp dir and its exports run", async () => {
  assert.ok(installResolveHook([TMP, REPO]));
  assert.not.ok(installResolveHook([TMP, REPO]), "idempotent");
  process.setSourceMapsEnabled(true); // what the executor does at start-up
  const ns = await loadModule(procs, TMP);
  assert.ok(existsSync(join(TMP, "modules", procs.hash, "index.mjs")));
  assert.is((ns.squareIt as (x: number) => number)(9), 81);
  assert.is((ns.countStatements as (s: string) => number)("a; b; c;"), 3);
  assert.is((ns.default as (x: number) => number)(2), 6);
  assert.is(ns.answer, 42);
  assert.is(await loadModule(procs, TMP), ns, "cached per hash");
  assert.ok(TSDASK_ROOT.length > 0);
});

test("loadModule: a stack from bundled code maps to the user's original file and line", async () => {
  const ns = await loadModule(procs, TMP);
  const helpers = join(FIXTURES, "helpers.ts");
  const line = readFileSync(helpers, "utf8").split("\n").findIndex((l) => l.includes("throw new Error(message)")) + 1;
  try {
    (ns.explode as (m: string) => never)("kaboom");
    assert.unreachable();
  } catch (e) {
    const stack = (e as Error).stack!;
    assert.ok(stack.includes(`${helpers}:${line}:`), stack);
    assert.ok(stack.includes(join(FIXTURES, "procs.ts")), stack);
  }
});

test("loadModule: refuses a hash that is malformed or does not match the code", async () => {
  for (const def of [
    { hash: "../../etc", file: "x.mjs", code: "export {}" },
    { hash: sha256Hex("other"), file: "x.mjs", code: "export {}" },
  ]) {
    try {
      await loadModule(def, TMP);
      assert.unreachable();
    } catch (e) {
      assert.match(String(e), /hash/);
    }
  }
  assert.not.ok(existsSync(join(TMP, "etc")));
});

// --- remote references ----------------------------------------------------------------------------

test("module handle: stubs carry their reference, throw when called, and unknown names fail clearly", async () => {
  const handle = makeModuleHandle<typeof import("./fixtures/shipping/procs.ts")>(procs, procs.exports);
  const ref = getModuleRef(handle.squareIt)!;
  assert.is(ref.exportName, "squareIt");
  assert.is(ref.module.hash, procs.hash);
  assert.equal(Object.keys(ref.module).sort(), ["code", "file", "hash"]);
  assert.is(getModuleRef(fns.double), undefined);
  assert.is(getModuleRef(undefined), undefined);

  const called = throwsCode(() => handle.squareIt(2), "ModuleStubCalled");
  assert.ok(called.message.includes("squareIt"), called.message);

  const missing = throwsCode(() => (handle as unknown as Record<string, unknown>).sqareIt, "NoSuchExport");
  assert.ok(missing.message.includes("'sqareIt'") && missing.message.includes("'squareIt'") && missing.message.includes("procs.ts"), missing.message);

  assert.is(await Promise.resolve(handle), handle, "awaitable (then is not an export)");
  assert.equal(Object.keys(handle), procs.exports);
  assert.ok("explode" in handle);
  assert.is(handle.default.name, "default");

  const def = describeModuleFn(ref);
  assert.equal(def, { kind: "mod", hash: sha256Hex(`${procs.hash}:squareIt`), module: procs.hash, exportName: "squareIt" });
  assert.is(describeModuleFn(ref), def);
  const shipped = toFnDef(handle.squareIt);
  assert.is(shipped.fn, def);
  assert.is(shipped.module, ref.module);
  assert.is(toFnDef(handle.squareIt), shipped);
});

test("a module ref resolves on the executor to the real export", async () => {
  const handle = makeModuleHandle<typeof import("./fixtures/shipping/procs.ts")>(procs, procs.exports);
  const { fn, module } = toFnDef(handle.countStatements);
  assert.ok(fn.kind === "mod" && module);
  const ns = await loadModule(module, TMP);
  assert.is((ns[fn.exportName] as (s: string) => number)("x;"), 1);
});

// --- cost -----------------------------------------------------------------------------------------

test("cost: describeFunction first call is milliseconds at most, cached calls are a lookup", () => {
  const fresh = new Function("return (a, b) => a + b")() as Function;
  let t = performance.now();
  describeFunction(fresh);
  const first = performance.now() - t;
  const n = 100_000;
  t = performance.now();
  for (let i = 0; i < n; i++) toFnDef(fresh);
  const perCall = ((performance.now() - t) / n) * 1000;
  assert.ok(first < 250, `first call took ${first.toFixed(1)} ms`);
  assert.ok(perCall < 20, `cached call took ${perCall.toFixed(2)} µs`);
});

test.run();
