// A process that only wakes up: bench/message-cost's receiver. `timer`: a 100 ms setInterval;
// `socket PORT`: a raw TCP connection whose data it drops; `nats URL`: a nats.js subscription to
// `wake` with a callback that does nothing (as ts-dask's subscriptions are, runtime/transport.ts).
// Plain JavaScript, no tsx: the floor a Node process pays per wake-up, before any code of ours.
import { once } from "node:events";
import net from "node:net";
import { connect } from "nats";

const [kind, where] = process.argv.slice(2);
process.on("disconnect", () => process.exit(0));
if (kind === "timer") setInterval(() => {}, 100);
else if (kind === "socket") {
  const s = net.connect(Number(where), "127.0.0.1");
  s.on("data", () => {});
  await once(s, "connect");
} else if (kind === "nats") {
  const nc = await connect({ servers: where });
  nc.subscribe("wake", { callback: () => {} });
  await nc.flush();
} else throw new Error(`unknown receiver '${kind}'`);
process.send("ready");
