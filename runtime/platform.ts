/**
 * The ONE module with operating-system specific code (Linux, macOS, Windows): this entry and its
 * parts in runtime/platform/ (os.ts: which OS; processes.ts: alive, descendants, kill the tree;
 * signals.ts: shutdown and terminal signals; files.ts: process memory, the local directory,
 * executables, npm; tether.ts: children that must not outlive us; drop.ts: the same-host drop
 * directory). Nothing else imports those
 * parts: everything else in ts-dask asks here to find a binary, kill a process tree, watch for
 * shutdown signals or start a child that must not outlive us. CI runs Linux only, so every function below has an explicit path
 * for each OS and never relies on a POSIX-only mechanism without a fallback.
 *
 * | function              | Linux                          | macOS                  | Windows                         |
 * |-----------------------|--------------------------------|------------------------|---------------------------------|
 * | {@link isAlive}       | kill(pid, 0) + /proc state (zombies are dead) | kill 0 + `ps -o stat=` | kill 0 (OpenProcess) |
 * | {@link killTree}      | /proc walk, freeze (SIGSTOP), signal, SIGCONT | `ps -A -o pid=,ppid=` walk, same | `taskkill /pid N /T /F` |
 * | {@link onShutdown}    | SIGINT, SIGTERM, SIGHUP        | same                   | SIGINT (Ctrl+C), SIGBREAK, SIGHUP (console closed) |
 * | {@link ignoreTerminalSignals} | SIGINT, SIGQUIT, SIGHUP | same                   | SIGINT (Ctrl+C), SIGBREAK (Ctrl+Break), SIGHUP |
 * | {@link executablePath}| PATH, X_OK                     | same                   | PATH × PATHEXT                  |
 * | {@link npmCommand}, {@link spawnNpm} | npm-cli.js beside node (`<prefix>/lib/node_modules/npm`), else `npm` on PATH | same | `<node dir>\node_modules\npm`, else `npm.cmd` through the shell |
 * | {@link spawnTethered} | our child, and a keeper that stops it when we die: `/bin/sh` reading a pipe from us; keeper and child keep our autogroup's nice | same (no autogroups) | our child, and runtime/tether.mjs under Node over IPC |
 * | {@link dropDir}       | `/dev/shm/ts-dask-drop-<uid>` (else tmpdir), 0o700, ours alone; read with O_NOFOLLOW, O_NONBLOCK | `$TMPDIR/ts-dask-drop` (per user), same checks | `%TEMP%\ts-dask-drop` (per user); no O_NOFOLLOW (the hash check stands) |
 * | {@link tether}        | the same keeper for a child started elsewhere (a `fork` with IPC, a test helper's `spawn`) | same | same |
 */
export * from "./platform/os.ts";
export * from "./platform/processes.ts";
export * from "./platform/signals.ts";
export * from "./platform/files.ts";
export * from "./platform/tether.ts";
export * from "./platform/drop.ts";
