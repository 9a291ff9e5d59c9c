/**
 * The LAN test bed itself (test/lan/bed.ts): hosts reach each other over the bridge and nothing
 * else; firewall profiles drop what they should; a cut link drops traffic and a restored one
 * carries it again; leftovers of a crashed run are removed; destroy removes every namespace.
 * Runs as root on Linux only (prints why not otherwise).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isAlive } from "../../runtime/platform.ts";
import { childExit, withTimeout } from "../helpers/cluster.ts";
import { LanBed, lanOrSkip, removeLeftovers } from "./bed.ts";
import { connectFrom, listen } from "./probe.ts";

const namespaces = () => (spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "").split("\n").map((l) => l.split(" ")[0]!).filter(Boolean);

if (lanOrSkip("test/lan/bed.test.ts")) {
  let bed: LanBed | undefined;
  test.after(async () => {
    await bed?.destroy();
  });

  test("hosts on a bridge: reachable from each other, firewalls drop new inbound connections, a cut link drops everything until restored", async () => {
    bed = LanBed.create(["a", "b", "c"]);
    assert.equal(bed.hosts.map((h) => h.ip), ["10.77.0.2", "10.77.0.3", "10.77.0.4"]);
    const a = bed.host("a");
    const hostname = bed.spawn("b", "hostname", []);
    await withTimeout(hostname.exited, 10_000, "hostname");
    assert.is(hostname.output().trim(), "b", "each host has its own hostname");

    await withTimeout(listen(bed, "a", 7001), 20_000, "listener");
    assert.is(await connectFrom(bed, "b", a.ip, 7001), "connected");
    assert.is(await connectFrom(bed, "b", a.ip, 7002), "refused", "nobody listens on 7002");

    bed.firewall("a", "closed");
    assert.is(await connectFrom(bed, "b", a.ip, 7001), "timeout", "closed: new inbound connections are dropped");
    assert.is(await connectFrom(bed, "a", "127.0.0.1", 7001), "connected", "loopback inside the host still works");
    bed.firewall("a", { allowTcp: [7001] });
    assert.is(await connectFrom(bed, "c", a.ip, 7001), "connected", "the allowed port");
    assert.is(await connectFrom(bed, "c", a.ip, 7002), "timeout", "any other port is dropped, not refused");
    await withTimeout(listen(bed, "b", 7003), 20_000, "listener on b");
    assert.is(await connectFrom(bed, "a", bed.host("b").ip, 7003), "connected", "outbound from a firewalled host works");
    bed.firewall("a", "open");
    assert.is(await connectFrom(bed, "b", a.ip, 7002), "refused", "open again");

    bed.cut("a");
    assert.is(await connectFrom(bed, "b", a.ip, 7001), "timeout", "cut");
    assert.is(await connectFrom(bed, "b", bed.host("c").ip, 7001), "refused", "the others still talk");
    bed.restore("a");
    assert.is(await connectFrom(bed, "b", a.ip, 7001, 5000), "connected", "restored");

    const mine = bed.hosts.map((h) => h.ns);
    await bed.destroy();
    const left = namespaces();
    for (const ns of [...mine, bed.switchNs]) assert.not.ok(left.includes(ns), `${ns} removed`);
    assert.not.ok(existsSync(bed.dir), "its directory removed");
  });

  test("leftovers of a crashed run (its process gone) are removed with the processes inside; a live run's are kept", async () => {
    const dead = spawn(process.execPath, ["-e", ""]);
    await withTimeout(childExit(dead), 10_000, "a short-lived process");
    const deadNs = `tdl-${dead.pid}-x`;
    const liveNs = `tdl-${process.pid}-keep`;
    spawnSync("ip", ["netns", "add", deadNs]);
    spawnSync("ip", ["netns", "add", liveNs]);
    try {
      const sleeper = spawn("ip", ["netns", "exec", deadNs, "sleep", "600"], { stdio: "ignore" });
      const exited = childExit(sleeper);
      await withTimeout(new Promise<void>((resolve) => { const check = () => ((spawnSync("ip", ["netns", "pids", deadNs], { encoding: "utf8" }).stdout ?? "").trim() ? resolve() : setTimeout(check, 20)); check(); }), 10_000, "sleeper inside");
      const removed = removeLeftovers();
      assert.ok(removed.includes(deadNs), `removed: ${removed.join(", ")}`);
      assert.not.ok(removed.includes(liveNs));
      assert.equal((await withTimeout(exited, 10_000, "the sleeper to be killed")).signal, "SIGKILL");
      assert.not.ok(isAlive(sleeper.pid!));
      assert.not.ok(namespaces().includes(deadNs));
      assert.ok(namespaces().includes(liveNs));
    } finally {
      spawnSync("ip", ["netns", "delete", deadNs]);
      spawnSync("ip", ["netns", "delete", liveNs]);
    }
  });
}

test.run();
