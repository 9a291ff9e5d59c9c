/**
 * Every error a ts-dask user can see, defined once (in the manner of piscina's errors.ts).
 * Each factory returns a {@link TsDaskError} whose `code` is the factory's name, and whose
 * message says what happened and what to do about it.
 */

/** An error raised by ts-dask itself. `code` names the entry of {@link Errors} that made it. */
export class TsDaskError extends Error {
  /** The name of the {@link Errors} factory that made this error, e.g. `"ClosureCaptured"`. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = `TsDaskError[${code}]`;
    this.code = code;
  }
}

/**
 * A task failed on a worker: the user's function threw, its process died, or it was cancelled.
 * Carries the remote error's name, message and stack, the task's key and the worker's name.
 */
export class TaskError extends TsDaskError {
  /** Name of the executor (e.g. `MyWorker-2`) where the task ran; `""` when it never ran. */
  readonly worker: string;
  /** The task's key as the client knows it. */
  readonly key: string;
  /** The stack trace as printed on the worker. */
  readonly remoteStack: string;
  /** `name` of the error thrown remotely (e.g. `TypeError`). */
  readonly remoteName: string;
  constructor(code: ErrorCode, message: string, key: string, worker: string, remoteName = "Error", remoteStack = "", cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.key = key;
    this.worker = worker;
    this.remoteName = remoteName;
    this.remoteStack = remoteStack;
    // Show the remote stack where users look first: the error's own stack.
    if (remoteStack) this.stack = `${this.name}: ${message}\n    --- remote stack (${worker || "no worker"}) ---\n${remoteStack}`;
  }
}

/**
 * One call of a batch failed. The batch's other calls are not affected: each item keeps its own
 * error. `index` is the item's position in the input; `remoteName`/`remoteStack` are the thrown
 * error's, `worker` where it ran.
 */
export class ItemError extends TaskError {
  /** The item's position in the input (0-based). */
  readonly index: number;
  constructor(code: ErrorCode, message: string, index: number, fnName: string, worker: string, remoteName = "Error", remoteStack = "", cause?: unknown) {
    super(code, message, `${fnName}[${index}]`, worker, remoteName, remoteStack, cause);
    this.index = index;
  }
}

/** A user actor failed as a whole (issue 14): which actor, on which executor, and why. */
export class ActorError extends TsDaskError {
  constructor(
    code: ErrorCode,
    message: string,
    /** The actor's name. */
    readonly actor: string,
    /** The executor that hosted it ("" when none). */
    readonly executor: string,
    readonly reason: string,
  ) {
    super(code, message);
  }
}

const list = (names: readonly string[]) => names.map((n) => `'${n}'`).join(", ");

/** The table of named errors. Add new ones here; never `new Error(...)` a user-visible error elsewhere. */
export const Errors = {
  // --- shipping functions and values ---------------------------------------------------------
  ClosureCaptured: (fnName: string, where: string, names: readonly string[]) =>
    new TsDaskError(
      "ClosureCaptured",
      `Function ${fnName || "<anonymous>"}${where ? ` (${where})` : ""} uses ${list(names)} from its surrounding scope, ` +
        `so it cannot travel to a worker by source. Make it self-contained (pass those values as arguments), ` +
        `or move it into a side-effect-free module and ship it by reference: ` +
        `const m = await client.importModule<typeof import("./m.ts")>("./m.ts"); client.map(m.fn, xs).`,
    ),
  FunctionNotShippable: (fnName: string, reason: string) =>
    new TsDaskError(
      "FunctionNotShippable",
      `Function ${fnName || "<anonymous>"} cannot be sent to a worker: ${reason}. ` +
        `Pass a self-contained function (arrow, function expression or declaration), or an export of a module loaded with client.importModule().`,
    ),
  ModuleBundleFailed: (path: string, detail: string) =>
    new TsDaskError("ModuleBundleFailed", `Could not bundle module ${path} for the workers: ${detail}`),
  NotSerializable: (what: string, detail: string) =>
    new TsDaskError(
      "NotSerializable",
      `${what} cannot be serialised for the cluster: ${detail}. Supported: JSON-like values, typed arrays, Date, BigInt, Map, Set.`,
    ),
  ClassInstanceArgument: (what: string, className: string) =>
    new TsDaskError(
      "ClassInstanceArgument",
      `${what} is an instance of class ${className}: it would arrive on the worker as a plain object without its methods, and fail only there. ` +
        `Pass plain data (e.g. { ...fields }) and rebuild the ${className} inside the task, with the class from a module loaded by client.importModule.`,
    ),
  /** A warning (process.emitWarning), not thrown. */
  UndefinedArgument: (what: string) =>
    new TsDaskError(
      "UndefinedArgument",
      `${what} is undefined: it arrives on the worker as null, so a default parameter value does not apply. Pass the value, or leave the argument out.`,
    ),
  UnknownOptions: (call: string, names: readonly string[], known: readonly string[]) =>
    new TsDaskError("UnknownOptions", `${call} does not take ${list(names)} (its options: ${list(known)}); a misspelt option would otherwise be ignored.`),
  NoSuchExport: (path: string, exportName: string, available: readonly string[]) =>
    new TsDaskError(
      "NoSuchExport",
      `Module ${path} has no export '${exportName}'. ` +
        (available.length ? `It exports ${list(available)}.` : "It has no exports.") +
        ` Export the function from the module (side-effect free) and load it again with client.importModule().`,
    ),
  ModuleStubCalled: (exportName: string) =>
    new TsDaskError(
      "ModuleStubCalled",
      `'${exportName}' is a remote reference from client.importModule(); it runs on workers only. ` +
        `Pass it to client.submit()/client.map() instead of calling it directly.`,
    ),

  ScatterFailed: (detail: string) => new TsDaskError("ScatterFailed", `Scattering a value failed: ${detail}`),
  ResultStoreFailed: (key: string, worker: string, bytes: number, detail: string) =>
    new TsDaskError(
      "ResultStoreFailed",
      `Task ${key} on ${worker}: storing its large result (${bytes} bytes) in the scheduler failed: ${detail}. The task ran; run it again once the scheduler is reachable.`,
    ),
  BadChunk: (index: number, chunks: number, hash: string, why: string) =>
    new TsDaskError("BadChunk", `Chunk ${index}/${chunks} of value ${hash.slice(0, 12)}… ${why}: refused (a client or executor of another version, or a corrupted message).`),
  DataNotFound: (hash: string) =>
    new TsDaskError("DataNotFound", `The scheduler holds no value ${hash.slice(0, 12)}… (released, never stored, or lost when the scheduler restarted).`),
  DataUnavailable: (hash: string, worker: string, detail: string) =>
    new TsDaskError(
      "DataUnavailable",
      `${worker} could not fetch scattered value ${hash.slice(0, 12)}…: ${detail}. Was it released (client.release / client closed)? Scatter it again.`,
    ),

  // --- uploads and installs --------------------------------------------------------------------
  BadUpload: (path: string, detail: string) =>
    new TsDaskError(
      "BadUpload",
      `Cannot upload ${path}: ${detail}. client.uploadFile() takes a .ts/.js/.mjs file, a folder with a package.json, or a .zip/.tgz of such a folder.`,
    ),
  UnsafeArchivePath: (archive: string, entry: string) =>
    new TsDaskError(
      "UnsafeArchivePath",
      `Archive ${archive} holds the entry '${entry}', which would be written outside its folder (an absolute path, '..' or a link: "zip-slip"). ` +
        `Nothing was unpacked. Rebuild the archive from the package folder so every entry is a plain relative path inside it.`,
    ),
  UploadFailed: (name: string, failures: Readonly<Record<string, string>>, total: number) =>
    new TsDaskError(
      "UploadFailed",
      `Upload of '${name}' failed on ${Object.keys(failures).length} of ${total} executor(s): ` +
        Object.entries(failures).map(([who, why]) => `${who}: ${why}`).join("; ") +
        `. The other executors have it. Check those workers' --local-directory (disk space, permissions), then upload again.`,
    ),
  InstallFailed: (specs: readonly string[], failures: Readonly<Record<string, string>>, total: number) =>
    new TsDaskError(
      "InstallFailed",
      `npm install ${specs.join(" ")} failed on ${Object.keys(failures).length} of ${total} worker(s):\n` +
        Object.entries(failures).map(([who, why]) => `--- ${who}: ${why}\n`).join("") +
        `Check the package names and versions (and that those workers can reach the registry, or pass a package file), then install again.`,
    ),
  NpmNotFound: (host: string) =>
    new TsDaskError(
      "NpmNotFound",
      `npm was not found on ${host} (neither next to this Node nor on PATH). Install Node.js with npm on that machine, or put npm on the worker's PATH.`,
    ),

  // --- tasks -----------------------------------------------------------------------------------
  TaskFailed: (key: string, worker: string, remoteName: string, remoteMessage: string, remoteStack: string) =>
    new TaskError("TaskFailed", `Task ${key} failed on ${worker}: ${remoteName}: ${remoteMessage}`, key, worker, remoteName, remoteStack),
  /** A task's own `import("pkg")` found no such package on its worker. */
  TaskPackageMissing: (key: string, worker: string, name: string, remoteStack: string) =>
    new TaskError(
      "PackageNotInstalled",
      `Task ${key} failed on ${worker}: package '${name}' is not installed there. ` +
        `Install it on every worker once: await client.install(["${name}"]) (workers that join later get it too), then run the task again.`,
      key,
      worker,
      "Error",
      remoteStack,
    ),
  TaskCancelled: (key: string) => new TaskError("TaskCancelled", `Task ${key} was cancelled.`, key, ""),
  ResultNotSerializable: (key: string, worker: string, detail: string) =>
    new TaskError(
      "ResultNotSerializable",
      `Task ${key} on ${worker} returned a value that cannot be sent back: ${detail}. Return JSON-like values, typed arrays, Date, BigInt, Map or Set.`,
      key,
      worker,
    ),
  FunctionLoadFailed: (key: string, worker: string, detail: string, stack = "") =>
    new TaskError("FunctionLoadFailed", `Task ${key}: the function could not be loaded on ${worker}: ${detail}`, key, worker, "Error", stack),
  DefinitionNotSent: (what: "function" | "module", hash: string, where: string) =>
    new TsDaskError(
      "DefinitionNotSent",
      `The ${what} ${hash.slice(0, 12)}… was never sent to ${where} (its definition was lost on the way or forgotten): submit the task again.`,
    ),
  ExportNotAFunction: (exportName: string, file: string) =>
    new TsDaskError("ExportNotAFunction", `Export '${exportName}' of ${file} is not a function: tasks call functions; export one (e.g. export function ${exportName}(…) {…}).`),
  ModuleCorrupted: (file: string, detail: string) =>
    new TsDaskError("ModuleCorrupted", `The module ${file} that arrived cannot be loaded: ${detail} (forged or corrupted in transit). Import it again (client.importModule).`),
  PackageCorrupted: (file: string) =>
    new TsDaskError("PackageCorrupted", `The package file ${file} arrived corrupted (its bytes do not match their SHA-256): install it again (client.install).`),
  PackageNotInstalled: (name: string, module: string, host: string) =>
    new TsDaskError(
      "PackageNotInstalled",
      `Package '${name}', imported by ${module}, is not installed on the worker machine ${host}. ` +
        `Install it on every worker once: await client.install(["${name}"]) (workers that join later get it too); the next tasks then load it, no restart needed.`,
    ),
  KilledWorker: (key: string, workers: readonly string[], allowed: number) =>
    new TaskError(
      "KilledWorker",
      `Task ${key} was running when its process died ${workers.length} time(s) (on ${workers.join(", ")}); after ${allowed} such deaths it is not retried. ` +
        `It probably crashes or exhausts the memory of any process it runs in (process.exit, a native crash, an infinite allocation).`,
      key,
      workers[workers.length - 1] ?? "",
    ),
  TaskTimeout: (key: string, worker: string, ms: number) =>
    new TaskError("TaskTimeout", `Task ${key} ran longer than its timeout of ${ms} ms on ${worker} and was stopped.`, key, worker),
  DependencyFailed: (key: string, cause: TaskError) =>
    new TaskError("DependencyFailed", `Task ${key} did not run: its argument ${cause.key} failed (${cause.message})`, key, "", "Error", "", cause),
  Restarted: (key: string) =>
    new TaskError("Restarted", `Task ${key} was still pending when client.restart() restarted every executor; submit it again if you still need it.`, key, ""),
  ClientClosed: (key: string, reason?: string) =>
    new TaskError("ClientClosed", `Task ${key} was still pending when the client closed${reason ? ` (${reason})` : ""}; its result will never arrive.`, key, ""),

  // --- cluster & connection -------------------------------------------------------------------
  NatsServerNotFound: () =>
    new TsDaskError(
      "NatsServerNotFound",
      "nats-server was not found on PATH (or in $TSDASK_NATS_SERVER). Install it: Debian/Ubuntu `apt-get install nats-server`, " +
        "macOS `brew install nats-server`, Windows `choco install nats-server` — or pass the address of a running NATS server.",
    ),
  NatsServerFailed: (detail: string) => new TsDaskError("NatsServerFailed", `The embedded nats-server did not start: ${detail}`),
  SpawnFailed: (command: string, detail: string, cause?: unknown) =>
    new TsDaskError("SpawnFailed", `Could not start ${command}: ${detail}. Check that it exists and is executable.`, cause === undefined ? undefined : { cause }),
  AuthFailed: (servers: string, how: string, detail: string) =>
    new TsDaskError(
      "AuthFailed",
      `NATS at ${servers} refused ${how} (${detail}): the credential is missing or wrong. Use what the server expects: the token file \`ts-dask up --lan\` wrote and printed (--token-file FILE, or its content in $TSDASK_TOKEN), a token in the URL (nats://TOKEN@host:port), --user with --password-file, --nkey or --creds; see README "Build a home cluster".`,
    ),
  PermissionRefused: (servers: string, who: string, detail: string) =>
    new TsDaskError(
      "PermissionRefused",
      `NATS at ${servers} refused a subject to ${who} (${detail}): the server's permissions for this user do not allow what this process does. Use the user of its role (scheduler, worker or client) from deploy/nats/, or widen that user's permissions.`,
    ),
  SubscriptionFailed: (subject: string, who: string, detail: string) =>
    new TsDaskError(
      "SubscriptionFailed",
      `${who} lost its subscription to ${subject} (${detail}): it hears nothing more there. A permissions violation means this NATS user may not subscribe there: use the user of its role (deploy/nats/), or widen its permissions.`,
    ),
  TlsFailed: (servers: string, detail: string) =>
    new TsDaskError(
      "TlsFailed",
      `TLS with NATS at ${servers} failed: ${detail}. Check --tls-ca (the CA that signed the server's certificate), that the address names the host the certificate was made for, and --tls-cert/--tls-key if the server verifies clients.`,
    ),
  BadAuth: (detail: string) => new TsDaskError("BadAuth", `The NATS credentials are not usable: ${detail}.`),
  SecretFileUnreadable: (what: string, path: string, detail: string) =>
    new TsDaskError("SecretFileUnreadable", `Could not read ${what} ${path}: ${detail}. Check the path and that this user may read it (secret files should be mode 0600).`),
  ConnectFailed: (servers: string, detail: string) =>
    new TsDaskError("ConnectFailed", `Could not connect to NATS at ${servers}: ${detail}. Is nats-server running and reachable?`),
  NotNats: (server: string, answer: string) =>
    new TsDaskError(
      "NotNats",
      `${server} is not a NATS server: ${answer ? `it answered ${JSON.stringify(answer.split(/\r?\n/)[0]!.slice(0, 60))}` : "it accepted the connection but said nothing"}, ` +
        `where NATS greets with INFO at once. Check the port: NATS listens on 4222 by default (8787 is the ts-dask dashboard); \`ts-dask up\` prints the address to use.`,
    ),
  DeathTimeout: (servers: string, ms: number) =>
    new TsDaskError(
      "DeathTimeout",
      `Could not reach the cluster at ${servers} within --death-timeout (${Math.round(ms / 1000)} s); this worker stops. Check the address and that nats-server and the scheduler run.`,
    ),
  NoLocalCluster: () =>
    new TsDaskError(
      "NoLocalCluster",
      `Client.connect() with no address starts a private local cluster, but none was provided in this program: import Client from "ts-dask" (the package's entry), or give the NATS address of a running cluster.`,
    ),
  NoScheduler: (cluster: string, servers: string) =>
    new TsDaskError(
      "NoScheduler",
      `No scheduler answers for cluster '${cluster}' on ${servers}. If one runs there under another name (\`ts-dask up\` picks one and prints it), ` +
        `pass that name (--cluster NAME, or { cluster } to Client.connect). Otherwise start one with \`ts-dask scheduler --nats ${servers} --cluster ${cluster}\`, ` +
        "or use `ts-dask up` / Client.connect() with no address for a private local cluster.",
    ),
  SchedulerAlreadyRunning: (cluster: string, host: string) =>
    new TsDaskError(
      "SchedulerAlreadyRunning",
      `A scheduler for cluster '${cluster}' is already running (on ${host}). One scheduler per cluster: stop it first, or use another --cluster name.`,
    ),
  ClientIdTaken: (id: string) =>
    new TsDaskError(
      "ClientIdTaken",
      `Another peer registered client id '${id}' with this scheduler first, under a different token: this client's registration is refused. Connect a new Client (it draws a new id); if this keeps happening, someone on the NATS account is impersonating clients — give each role its own NATS credentials.`,
    ),
  RegistrationHeld: (what: string) =>
    new TsDaskError("RegistrationHeld", `${what} is registered already, and this registration did not carry its token: refused (retried; a live registration is not handed to another peer).`),
  ClientGone: (id: string) =>
    new TsDaskError("ClientGone", `Client ${id} has closed or lost its lease: the scheduler stores nothing more for it (its results would have no one to go to).`),
  UnknownFunction: (hash: string) =>
    new TsDaskError("UnknownFunction", `Function ${hash.slice(0, 12)}… was never sent to this scheduler (it restarted, or dropped the definitions of a client it lost): the client sends it again.`),
  UnknownClient: (id: string) =>
    new TsDaskError("UnknownClient", `The scheduler does not know client ${id} (or the message did not carry its token): register first; the client retries once its lease is renewed.`),
  NotBound: (what: string, needs: string) =>
    new TsDaskError(
      "NotBound",
      `The scheduler refused ${what}: it needs ${needs} (issue 11: on a shared NATS account, a message without one may be anyone's). A client registers at connect; if this keeps happening, check that nothing else on the account uses this cluster name.`,
    ),
  ExecutorGone: (id: string) =>
    new TsDaskError("ExecutorGone", `Executor ${id} is not (or no longer) registered with the scheduler: it left or was restarted. Call again; client.run() asks the current executors.`),
  DataCorrupted: (hash: string, where: string) =>
    new TsDaskError(
      "DataCorrupted",
      `The bytes of stored value ${hash.slice(0, 12)}… received by ${where} do not match its SHA-256 (forged or corrupted in transit) and were thrown away; fetching again did not help. Scatter the value again.`,
    ),
  NameTaken: (name: string) =>
    new TsDaskError(
      "NameTaken",
      `A live worker already holds the name '${name}'. Pick another --name, or stop that worker first (a name is freed as soon as its holder is gone).`,
    ),
  VersionMismatch: (who: string, theirs: string, ours: string) =>
    new TsDaskError(
      "VersionMismatch",
      `${who} runs ts-dask ${theirs}, the scheduler ts-dask ${ours}: they speak the same protocol, so it goes on, but behaviour may differ. Install the same version everywhere (npm install ts-dask@${ours}).`,
    ),
  ProtocolMismatch: (what: string, theirs: number | string, ours: number | string, theirVersion: string, ourVersion: string) =>
    new TsDaskError(
      "ProtocolMismatch",
      `${what} speaks ts-dask protocol ${theirs} (ts-dask ${theirVersion}) but this cluster speaks protocol ${ours} (ts-dask ${ourVersion}). ` +
        `Install the same ts-dask version on every machine (npm install ts-dask@${ourVersion}), then restart.`,
    ),
  RequestTimedOut: (what: string, ms: number) =>
    new TsDaskError("RequestTimedOut", `${what} got no answer within ${ms} ms. Is the scheduler running and reachable?`),
  NoReply: (subject: string, ms: number) =>
    new TsDaskError("NoReply", `A request on ${subject} got no answer within ${ms} ms: whoever serves it (the scheduler, an executor or a worker) is busy, stopped or unreachable.`),
  NoResponders: (subject: string) =>
    new TsDaskError("NoResponders", `Nobody on this NATS serves ${subject} (the server answered "no responders"): is the scheduler (or the peer addressed) running, under this cluster name?`),
  RequestClosed: (subject: string, who: string) =>
    new TsDaskError("RequestClosed", `A request on ${subject} was still waiting for its answer when ${who} closed its NATS connection; the answer, if any, is dropped.`),
  PayloadTooLarge: (what: string, bytes: number, max: number) =>
    new TsDaskError(
      "PayloadTooLarge",
      `${what}: ${bytes} bytes, above the NATS server's max_payload of ${max} bytes, in a message that cannot be split ` +
        `(large arguments and results travel apart on their own; the rest of a message must fit). Pass large inputs as ` +
        `client.scatter() references, keep shipped functions and modules small, or raise max_payload in the nats-server configuration.`,
    ),

  ValueTooLarge: (what: string, bytes: number, cap: number, scattered = false) =>
    new TsDaskError(
      "ValueTooLarge",
      `${what} is ${bytes} bytes encoded, above the cap of ${cap} bytes on one value (maxValueBytes). ` +
        (scattered ? `Split it into smaller values, ` : `Scatter it once with client.scatter() and pass the reference, split it into smaller values, `) +
        `or raise the cap: Client.connect(address, { maxValueBytes }) and \`ts-dask scheduler --max-value-bytes\`.`,
    ),
  ResultTooLarge: (key: string, worker: string, bytes: number, cap: number) =>
    new TaskError(
      "ResultTooLarge",
      `Task ${key} on ${worker} returned a result of ${bytes} bytes encoded, above the cap of ${cap} bytes on one value (maxValueBytes). ` +
        `Return less (or write it somewhere and return its name), or raise the cap: Client.connect(address, { maxValueBytes }) and \`ts-dask scheduler --max-value-bytes\`.`,
      key,
      worker,
    ),
  ResultUnavailable: (key: string, detail: string) =>
    new TaskError(
      "ResultUnavailable",
      `The result of task ${key}, held by the scheduler until gathered, could not be fetched: ${detail}. ` +
        `It is gone if the scheduler restarted or the result was released; submit the task again.`,
      key,
      "",
    ),

  NotInTask: (what: string) =>
    new TsDaskError("NotInTask", `${what} works only inside a task (on an executor or a local pool process); this process is neither.`),

  // --- user actors (issue 14) -------------------------------------------------------------------
  ActorLost: (actor: string, executor: string, reason: string) =>
    new ActorError(
      "ActorLost",
      `Actor '${actor}' on ${executor || "no executor"} is lost: ${reason}. A call that was pending was not run again (at most once); ` +
        `call again after a restart (create it with { restart: { max } }), or create it anew.`,
      actor,
      executor,
      reason,
    ),
  ActorNotFound: (name: string) =>
    new ActorError("ActorNotFound", `No actor named '${name}' lives in this cluster: create it with client.actor(Class, args, { name: "${name}" }) (get-or-create).`, name, "", "not found"),
  ActorStartFailed: (actor: string, executor: string, detail: string) =>
    new ActorError("ActorStartFailed", `Actor '${actor}' could not start on ${executor || "any executor"}: ${detail}`, actor, executor, detail),
  NoSuchMethod: (actor: string, method: string) =>
    new TsDaskError("NoSuchMethod", `Actor '${actor}' has no method '${method}': call one its class defines (a getter is read with actor.get("${method}")).`),
  ActorCallFailed: (actor: string, method: string, worker: string, remoteName: string, message: string, stack: string) =>
    new TaskError("ActorCallFailed", `${actor}.${method}() on ${worker} threw ${remoteName}: ${message}`, `${actor}.${method}`, worker, remoteName, stack),

  // --- the command line (printed after "ts-dask: ", with the command's usage; exit code 2) -----
  UnknownCommand: (name: string) =>
    new TsDaskError("UnknownCommand", `'${name}' is not a ts-dask command: the commands are up, scheduler, worker and info.`),
  UnknownFlag: (command: string, flag: string, suggestion?: string) =>
    new TsDaskError("UnknownFlag", `${command} does not take ${flag}${suggestion ? ` (did you mean ${suggestion}?)` : ""}; its flags are below.`),
  FlagNeedsValue: (command: string, flag: string) =>
    new TsDaskError("FlagNeedsValue", `${command}: ${flag} needs a value after it (${flag} VALUE or ${flag}=VALUE).`),
  BadFlag: (flag: string, value: string, expected: string) => new TsDaskError("BadFlag", `${flag} takes ${expected}, not '${value}'.`),
  FlagConflict: (a: string, b: string, why: string) => new TsDaskError("FlagConflict", `${a} and ${b} were both given: ${why}.`),
  ExtraArguments: (command: string, args: readonly string[]) =>
    new TsDaskError("ExtraArguments", `${command} takes at most one address, not ${args.map((a) => `'${a}'`).join(" ")}; flags start with --.`),
  MissingAddress: (command: string, example: string) =>
    new TsDaskError("MissingAddress", `${command} needs the NATS address of the cluster, e.g. \`${example}\`.`),
  BadCommandLine: (command: string, detail: string) => new TsDaskError("BadCommandLine", `${command}: ${detail}.`),

  // --- configuration --------------------------------------------------------------------------
  BadMemoryLimit: (text: string) =>
    new TsDaskError(
      "BadMemoryLimit",
      `Cannot read memory limit '${text}'. Use bytes with a unit ("1GB", "512MiB"), a fraction of the machine's memory ("0.5"), "auto", or 0 for no limit.`,
    ),
  BadName: (what: string, name: string) =>
    new TsDaskError("BadName", `Invalid ${what} '${name}': use letters, digits, '_' and '-' (it becomes part of NATS subjects).`),
  WorkerStopped: (reason: string) => new TsDaskError("WorkerStopped", `The worker stopped before it was ready: ${reason}.`),
  KeySpaceExhausted: () =>
    new TsDaskError("KeySpaceExhausted", "This client has submitted 2^32 tasks, all its task keys: close it and connect a new Client."),
  ResourcesUnavailable: (needs: string, offers: string) =>
    new TsDaskError("ResourcesUnavailable", `Tasks need resources ${needs}, which no worker of the cluster offers (workers: ${offers}). They wait until a worker that has them joins (ts-dask worker --resources …); cancel them otherwise.`),
  ResourcesNeedCluster: (backend: string, needs: string) =>
    new TsDaskError("ResourcesNeedCluster", `Option resources = ${needs} needs the cluster backend: backend ${backend} runs every call in this machine's own processes and has no resources to hold. Use backend: "cluster" (workers started with --resources, or \`ts-dask up --resources\`), or leave resources out.`),
  BadEstimator: (detail: string) =>
    new TsDaskError(
      "BadEstimator",
      `The estimator cannot be evaluated: ${detail}. Give its class predict(X) (scored with the search's \`scoring\`) or score(X, y) (used when no \`scoring\` is given).`,
    ),
  BadOption: (option: string, value: unknown, expected: string) =>
    new TsDaskError("BadOption", `Option ${option} = ${safe(value)} is not valid: expected ${expected}.`),
  JetStreamUnavailable: (name: string, server: string) =>
    new TsDaskError(
      "JetStreamUnavailable",
      `The durable output '${name}' needs JetStream, which the NATS server ${server} does not run. Start it with JetStream (\`ts-dask up --jetstream\`, \`nats-server -js\`, or Client.connect() with { local: { jetstream: true } }), or drop \`durable\` to publish at-most-once.`,
    ),
  DurableOutputFailed: (name: string, detail: string) =>
    new TsDaskError("DurableOutputFailed", `Rows of the durable output '${name}' could not be stored in JetStream (${detail}); they were published at-most-once instead. Check the server's JetStream limits (\`nats stream info\`).`),
  BadOutputName: (name: unknown) =>
    new TsDaskError(
      "BadOutputName",
      `Output name ${safe(name)} cannot be a NATS subject token: use 1–200 letters, digits, '_' and '-' (no '.', '*', '>' or spaces), e.g. { publish: "study-42" }.`,
    ),

  // --- workloads (parallel, best, gridSearchCV) ----------------------------------------------
  /** The user's function threw for one item. */
  ItemFailed: (index: number, fnName: string, worker: string, name: string, message: string, stack: string) =>
    new ItemError("TaskFailed", `Item ${index} (${fnName}) failed on ${worker}: ${name}: ${message}`, index, fnName, worker, name, stack),
  /** The whole batch holding this item failed (its process died, the function did not load, …). */
  ItemBatchFailed: (index: number, fnName: string, cause: Error) => {
    const t = cause as Partial<TaskError> & { code?: string };
    return new ItemError(
      t.code ?? "TaskFailed",
      `Item ${index} (${fnName}) did not run: its batch failed: ${cause.message}`,
      index,
      fnName,
      t.worker ?? "",
      t.remoteName ?? cause.name,
      t.remoteStack ?? cause.stack ?? "",
      cause,
    );
  },
  PoolClosed: () => new TsDaskError("PoolClosed", "The local process pool is closed; start a new one (LocalPool.start) or pass backend: \"local\"."),
  BatchCancelled: () => new TsDaskError("TaskCancelled", "The batch was cancelled."),
  BatchFailed: (worker: string, name: string, message: string, stack: string) =>
    new TaskError("FunctionLoadFailed", `A batch failed on ${worker}: ${name}: ${message}`, "batch", worker, name, stack),
  LocalWorkerDied: (worker: string, code: number | null, signal: string | null) =>
    new TaskError(
      "KilledWorker",
      `Local process ${worker} died while running a batch (${signal ? `signal ${signal}` : `exit code ${code}`}); it was replaced. ` +
        `The function probably crashes or exhausts the memory of the process (process.exit, a native crash, an infinite allocation).`,
      "batch",
      worker,
    ),
  NotAScore: (value: unknown) =>
    new TsDaskError("NotAScore", `The score function returned ${safe(value)}, not a number. Return a finite number (NaN ranks last).`),
  CheckpointMismatch: (name: string, file: string, what: string) =>
    new TsDaskError(
      "CheckpointMismatch",
      `Checkpoint '${name}' (${file}) was written by a different run: ${what} differ. ` +
        `Use another checkpoint name for a new study, or delete the file to start this one again.`,
    ),
  CheckpointCorrupt: (file: string, detail: string) =>
    new TsDaskError("CheckpointCorrupt", `Checkpoint file ${file} cannot be read: ${detail}. Delete it to start again.`),
  NoCandidates: (what: string) => new TsDaskError("NoCandidates", `${what}: nothing to evaluate (empty input).`),
  FactoryNotAModuleExport: (name: string) =>
    new TsDaskError(
      "FactoryNotAModuleExport",
      `gridSearchCV: the estimator factory '${name || "<anonymous>"}' must be an export of a module loaded with client.importModule() ` +
        `or importModule() from ts-dask: it runs on the workers and imports the ML library, so it cannot travel by source. ` +
        `Example: const models = await client.importModule<typeof import("./models.ts")>("./models.ts"); gridSearchCV(models.makeLogReg, …)`,
    ),
  FitFailed: (params: string, fold: number, cause: Error) =>
    new TsDaskError("FitFailed", `Fitting the estimator with ${params} on fold ${fold} failed: ${cause.message}`, { cause }),
} as const;

/** Name of an entry of {@link Errors}. */
export type ErrorCode = keyof typeof Errors;

/** A ts-dask error as a request's refusal on the wire (protocol.ts `Refusal`). */
export function refusal(e: TsDaskError): { ok: false; code: ErrorCode; message: string } {
  return { ok: false, code: e.code, message: e.message };
}

/**
 * A ts-dask error as a task's or a run's failure on the wire (protocol.ts `RemoteError` without its
 * row): its code, its name (`TsDaskError[code]`, as on the client), no stack (ts-dask's own frames
 * are not the task's).
 */
export function remoteErrorInfo(e: TsDaskError): { code: ErrorCode; name: string; message: string; stack: string } {
  return { code: e.code, name: e.name, message: e.message, stack: "" };
}

/**
 * A task's or a run's failure from the wire, as the client raises it: ts-dask's own errors under
 * their code (the message naming the key as the client knows it), a missing package as
 * TaskPackageMissing, anything the user's code threw as TaskFailed with its remote name and stack.
 */
export function taskErrorOf(key: string, worker: string, e: { code: ErrorCode | ""; name: string; message: string; stack: string }): TaskError {
  if (e.code && e.code !== "TaskFailed") return new TaskError(e.code, e.message.replace(/^Task \S+/, `Task ${key}`), key, worker, e.name, e.stack);
  const missing = /^Cannot find package '([^']+)'/.exec(e.message)?.[1];
  if (missing) return Errors.TaskPackageMissing(key, worker, missing, e.stack);
  return Errors.TaskFailed(key, worker, e.name, e.message, e.stack);
}

/** A ts-dask error as a failed row of a results message (protocol.ts `RemoteError`, row `i`). */
export function remoteError(e: TsDaskError, i = 0): { i: number; code: ErrorCode; name: string; message: string; stack: string } {
  return { i, ...remoteErrorInfo(e) };
}

function safe(v: unknown): string {
  try {
    if (typeof v === "function") return `a function (${v.name || "anonymous"})`;
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "..." : s;
  } catch {
    return String(v);
  }
}
