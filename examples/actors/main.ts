/**
 * Actors: state that lives on one executor and is called many times (issue 14).
 *
 *   npx tsx examples/actors/main.ts
 *
 * A counter shipped by source, a model shipped by module reference with a name, a restart budget
 * and a snapshot; a second client finds it by name; tasks call it through getWorker().client();
 * its executor is killed and it comes back elsewhere with its state.
 */
import { Client, type ActorError } from "ts-dask";

// A self-contained class travels by source, like a self-contained function.
class Counter {
  n = 0;
  add(k: number) {
    return (this.n += k);
  }
}

const client = await Client.connect(undefined, { local: { nprocs: 2 } });
try {
  const counter = await client.actor(Counter, []);
  const sums = await Promise.all([1, 2, 3, 4].map((k) => counter.add(k))); // one message, run in order
  console.log(`counter: ${sums.join(" ")}`);

  // A class exported by a module travels by reference (bundled with its imports).
  const lib = await client.importModule<typeof import("./model.ts")>("./model.ts");
  const model = await client.actor(lib.Model, [{ bias: 1, w: [2, 3] }], { name: "model", restart: { max: 3 }, snapshotEvery: { calls: 1 } });
  console.log(`predict([1, 1]) = ${await model.predict([1, 1])}`);

  // Any client of the cluster finds it by name.
  const other = await Client.connect(client.address, { cluster: client.localCluster!.cluster });
  const same = await other.getActor<InstanceType<typeof lib.Model>>("model");
  console.log(`from a second client: predict([2, 0]) = ${await same.predict([2, 0])}, calls so far ${await same.calls}`);
  await other.close();

  // Tasks (and actors) reach actors through getWorker().client(), as Dask's get_client().
  const viaTasks = await client.gather(
    client.map(async (x: number) => {
      const { getWorker } = await import("ts-dask/worker");
      const m = await (await getWorker().client()).getActor<{ predict(x: number[]): number }>("model");
      return m.predict([x, x]);
    }, [1, 2, 3]),
  );
  console.log(`from tasks: ${viaTasks.join(" ")}`);

  // Its executor dies (kill -9): a call in flight fails with ActorLost and is not run again;
  // the actor is re-created on another executor from its constructor arguments and its snapshot.
  const before = await model.pid();
  process.kill(before, "SIGKILL");
  const lost = await model.predict([9, 9]).catch((e: ActorError) => e);
  if (typeof lost === "number") console.log(`(the call went through before the kill: ${lost})`);
  else console.log(`${lost.code}: actor '${lost.actor}' on ${lost.executor}: ${lost.reason}`);
  const after = await model.pid();
  console.log(`restarted in another process: ${after !== before}; history kept: ${(await model.history).length} predictions, calls ${await model.calls}`);
} finally {
  await client.close();
}
