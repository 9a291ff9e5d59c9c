/** The options of {@link Client.connect}, of tasks (`client.with`, `map`) and of `client.wait`. */
import type { LocalClusterOptions } from "../runtime/local-cluster.ts";
import type { NatsAuth } from "../runtime/nats-auth.ts";

export interface ClientOptions {
  /** Cluster name (subject namespace). Default `"default"`; ignored for the embedded cluster. */
  cluster?: string;
  /** Auth token for the NATS server. */
  token?: string;
  /**
   * Credentials and TLS for NATS: `{ user, password }`, `{ nkeySeedFile }`, `{ credsFile }`,
   * `{ tlsCaFile, tlsCertFile, tlsKeyFile }` (see runtime/nats-auth.ts; `authFromSources()` reads
   * them from files and `$TSDASK_*` variables). A refused credential fails `connect` at once.
   */
  auth?: NatsAuth;
  /**
   * The client's subject scope: its results, logs and replies travel under `results.<scope>.`,
   * `log.<scope>.` and `_INBOX.<scope>.` of the cluster, so NATS permissions that let each user
   * subscribe only under its own scope keep one user from reading another's results
   * (deploy/nats/least-privilege.conf). Letters, digits, `_` and `-`. Default: the NATS user name
   * when connecting with a user and password (`auth.user`, or `nats://user:pass@…`); none otherwise
   * (a token, an nkey, a `.creds` file: give it here when the server's permissions expect one).
   */
  scope?: string;
  /** Print task console output here, prefixed with the worker's name. Default true. */
  forwardLogs?: boolean;
  /** Options for the private cluster started when no address is given. */
  local?: LocalClusterOptions;
  /** How long to wait for the scheduler to answer. Default 5000 ms. */
  connectTimeoutMs?: number;
  /**
   * Give up (close, failing pending futures) after this long without NATS. Default: never — a
   * client waits for its cluster to come back, and re-submits what has no result yet.
   */
  giveUpAfterMs?: number;
  /**
   * Cap on one encoded value (an argument, a `map` shared argument or a result), in bytes. Values
   * above the NATS max_payload (1 MiB by default) travel through the scheduler's data store in
   * chunks, transparently; values above this cap fail with `ValueTooLarge` (arguments) or
   * `ResultTooLarge` (results), naming size and cap. Default 1 GiB. The scheduler has its own cap
   * (`ts-dask scheduler --max-value-bytes`); the lower of the two applies.
   */
  maxValueBytes?: number;
  /**
   * A broadcast scatter (`scatter(v, { broadcast: true })`, and every workload run's) of more than
   * one NATS message is also handed over through a private per-user directory on this machine
   * (runtime/same-host.ts): the scheduler and executors that share it read the bytes there, checked
   * against their hash, instead of receiving them over NATS; the others receive them as before.
   * Default true; false sends everything through NATS.
   */
  sameHostScatter?: boolean;
}

/** How tasks run; for submit() pass them through {@link Client.with}. */
export interface TaskOptions {
  /** Run a task again this many times when it throws or times out (default 0). */
  retries?: number;
  /**
   * Milliseconds a task may run before it fails with `TaskTimeout`. An async task is abandoned;
   * a synchronous one that blocks its process has the process replaced.
   */
  timeout?: number;
  /**
   * Tasks of a higher priority are dispatched first (as Dask's `priority=`; default 0, may be
   * negative). Among equal priorities, clients take turns batch by batch: a client's few tasks do
   * not wait behind another client's long queue.
   */
  priority?: number;
  /**
   * Worker resources each task holds while it is assigned to an executor, as Dask's `resources=`:
   * `{ GPU: 1 }` runs only on executors of workers started with `--resources GPU=…`, at most as
   * many at once on each as its amount covers. Tasks that need what no worker offers wait (a
   * worker that has it may join) and the scheduler says so on this client's stderr
   * (`ResourcesUnavailable`).
   */
  resources?: Record<string, number>;
  /**
   * Deduplicate: a call with the same function and equal arguments (msgpack bytes; a Future
   * argument counts by its task) while an earlier identical call's future is alive shares that
   * future's task instead of running again. Per client; a failed, cancelled or released
   * (`future.release()`) task is not shared. Off by default: nothing is hashed unless asked.
   */
  pure?: boolean;
  /**
   * Deduplicate by an explicit key instead (per client, any function): a second call with a key
   * whose future is alive shares it. For `submit` a string or a function of the arguments; for
   * `map` a function of the row's arguments.
   */
  key?: string | ((...args: any[]) => string);
  /**
   * A named output: every row of the call is also published, once settled (after its retries),
   * on `tsdask.<cluster>.out.<publish>` for any NATS client to follow: index, key, and value or
   * error (message, remote stack, worker), batched, msgpack (docs/subjects.md,
   * examples/consumers/). Letters, digits, `_` and `-` only (else `BadOutputName`). Core NATS:
   * a subscriber sees what is published while it is subscribed. Not with `pure`/`key` in `map`.
   */
  publish?: string;
  /**
   * With `publish`: also store the output's rows in a JetStream stream (`TSDASK_<cluster>_OUT_<name>`,
   * created on first use; an existing one is kept as it is), so a consumer that starts late or
   * restarts reads every row (examples/consumers/replay.ts). Each batch is published with an
   * acknowledgement; `client.close()` waits for the outstanding ones. `true` keeps rows 7 days
   * and at most 1 GiB (oldest dropped first); or give the limits. Needs a server with JetStream
   * (else `JetStreamUnavailable`, thrown by the call).
   */
  durable?: boolean | DurableOptions;
}

/** Retention of a durable output's stream (defaults: 7 days, 1 GiB, no message cap). */
export interface DurableOptions {
  maxAgeMs?: number;
  maxBytes?: number;
  maxMessages?: number;
}

export interface MapOptions extends TaskOptions {
  /** Extra arguments passed after the row's own, the same for every task. */
  args?: unknown[];
}

export type ReturnWhen = "ALL_COMPLETED" | "FIRST_COMPLETED" | "FIRST_EXCEPTION";
