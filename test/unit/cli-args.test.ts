/** The command line read as a user types it: dask-worker's meanings, our own messages, one command's usage. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseCommandLine, UsageError } from "../../cli/args.ts";
import { hideToken } from "../../cli/info.ts";

const CORES = 8;
const parse = (line: string) => parseCommandLine(line.split(" ").filter(Boolean), CORES);
function refused(line: string): UsageError {
  try {
    parse(line);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`'${line}' was accepted`);
}

test("worker: counts as dask-worker means them (negative from the cores, auto)", () => {
  const procs = (line: string) => (parse(line) as { nprocs: number }).nprocs;
  assert.is(procs("worker nats://h:4222 --nprocs 3"), 3);
  assert.is(procs("worker nats://h:4222 --nprocs -1"), 8, "-1 = every core");
  assert.is(procs("worker nats://h:4222 --nworkers -2"), 7, "-2 = all but one");
  assert.is(procs("worker nats://h:4222 --nprocs=-8"), 1);
  assert.is(procs("worker nats://h:4222 --nprocs auto"), 8);
  assert.is(procs("worker nats://h:4222"), 8, "default: one per core");
  assert.is(procs("up --nprocs -1"), 8);
  const w = parse("worker nats://h:4222 --nthreads 2 --memory-limit 1GB --death-timeout 120 --name MyWorker --local-directory /tmp/");
  assert.equal(w, {
    command: "worker",
    servers: "nats://h:4222",
    cluster: "default",
    auth: {},
    nprocs: 8,
    nthreads: 2,
    memoryLimit: "1GB",
    deathTimeoutS: 120,
    name: "MyWorker",
    localDirectory: "/tmp/",
  });
});

test("mistakes get our own one-line message (a named error) and that command's usage only", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["worker nats://h --nprocs -9", "BadFlag", /^--nprocs takes a count that leaves at least one process \(this machine has 8 cores, so negative counts go down to -8\), not '-9'\.$/],
    ["worker nats://h --nprocs 0", "BadFlag", /--nprocs takes a whole number ≥ 1, a negative number counted from this machine's 8 cores \(-1 = all\), or "auto", not '0'/],
    ["worker nats://h --nprocs 2 --nworkers 2", "FlagConflict", /--nprocs and --nworkers were both given/],
    ["worker nats://h --bogus", "UnknownFlag", /^ts-dask worker does not take --bogus; its flags are below\.$/],
    ["worker nats://h --nprocss 2", "UnknownFlag", /does not take --nprocss \(did you mean --nprocs\?\)/],
    ["up --death-timeout 5", "UnknownFlag", /^ts-dask up does not take --death-timeout/],
    ["worker nats://h --memory-limit 1XB", "BadMemoryLimit", /Cannot read memory limit '1XB'/],
    ["worker nats://h --death-timeout soon", "BadFlag", /--death-timeout takes a number of seconds > 0, not 'soon'/],
    ["worker --nprocs 2", "MissingAddress", /ts-dask worker needs the NATS address/],
    ["worker nats://h --nprocs", "FlagNeedsValue", /--nprocs needs a value after it/],
    ["info nats://a nats://b", "ExtraArguments", /takes at most one address, not 'nats:\/\/b'/],
    ["frob", "UnknownCommand", /'frob' is not a ts-dask command/],
    ["scheduler --max-value-bytes lots", "BadFlag", /--max-value-bytes takes a byte count/],
  ];
  for (const [line, code, message] of cases) {
    const e = refused(line);
    assert.is(e.error.code, code, line);
    assert.match(e.message, message, line);
    assert.not.match(e.message, /ERR_PARSE_ARGS|error:/, `${line}: not Node's or commander's text`);
  }
  const usage = refused("worker --bogus").usage;
  assert.match(usage, /^Usage: ts-dask worker \[options\] \[address\]/);
  assert.match(usage, "--death-timeout");
  assert.not.match(usage, "--dashboard-address", "the worker's usage only");
});

test("--resources: the worker's and up's, per process, as dask-worker's", () => {
  assert.equal((parse("worker nats://h --resources GPU=1,MEM=8e9") as { resources?: unknown }).resources, { GPU: 1, MEM: 8e9 });
  assert.equal((parse("up --nprocs 2 --resources GPU=2") as { resources?: unknown }).resources, { GPU: 2 });
  assert.is((parse("up") as { resources?: unknown }).resources, undefined);
  for (const line of ["up --resources GPU=lots", "up --resources =1", "worker nats://h --resources GPU=0"]) {
    const e = refused(line);
    assert.is(e.error.code, "BadFlag", line);
    assert.match(e.message, /--resources takes NAME=AMOUNT pairs/, line);
  }
  assert.match(refused("up --resources GPU=-1").usage, /Usage: ts-dask up/);
  assert.match((parse("up --help") as { text: string }).text, /--resources <list>\s+what each process offers/);
});

test("info says whether the address was the default", () => {
  assert.is((parse("info") as { defaultAddress: boolean; servers: string }).defaultAddress, true);
  assert.is((parse("info") as { servers: string }).servers, "nats://127.0.0.1:4222");
  assert.is((parse("info nats://h:1") as { defaultAddress: boolean }).defaultAddress, false);
  assert.is(hideToken("nats://s3cret@h:4222"), "nats://***@h:4222");
});

test("help and version", () => {
  assert.is(parse("--version").command, "version");
  const help = parse("worker --help") as { command: string; text: string };
  assert.is(help.command, "help");
  assert.match(help.text, /^Usage: ts-dask worker/);
  assert.match((parse("") as { text: string }).text, /Commands:[\s\S]*worker/);
});

test.run();
