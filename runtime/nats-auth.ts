/**
 * How a ts-dask process proves who it is to NATS, and how it checks the server: a token, a user
 * and password, an nkey seed file, a `.creds` file (JWT + seed), and TLS (a CA file to verify the
 * server, hostname verification, a client certificate and key). The NATS adapter
 * (runtime/transport.ts) turns a {@link NatsAuth} into connection options.
 *
 * Secrets come from files or environment variables ({@link authFromSources}), never only from the
 * command line, where `ps` shows them to every local user; {@link redactUrl} keeps them out of
 * logs and messages.
 */
import { readFileSync } from "node:fs";
import { Errors } from "./errors.ts";

/** Credentials and TLS settings for a NATS connection. Every field is optional. */
export interface NatsAuth {
  /** Auth token (the server's `authorization { token }`). */
  token?: string;
  /** User name; with {@link password} (the server's `authorization { users }`). */
  user?: string;
  password?: string;
  /** Path of an nkey seed file (`SU…`), for a server user `{ nkey: U… }`. */
  nkeySeedFile?: string;
  /** Path of a `.creds` file (a user JWT and its nkey seed), for a server in operator/JWT mode. */
  credsFile?: string;
  /** Path of the CA certificate(s) the server's certificate must chain to. Implies TLS. */
  tlsCaFile?: string;
  /** Path of this process's certificate, for servers that verify clients (`verify: true`). Implies TLS. */
  tlsCertFile?: string;
  /** Path of the key of {@link tlsCertFile}. */
  tlsKeyFile?: string;
  /** Require TLS even without any file above (a `tls://` URL sets it). */
  tls?: boolean;
}

/** Environment variables read by {@link authFromSources} (the `_FILE` ones name a file holding the secret). */
export const AUTH_ENV = {
  token: "TSDASK_TOKEN",
  tokenFile: "TSDASK_TOKEN_FILE",
  user: "TSDASK_USER",
  password: "TSDASK_PASSWORD",
  passwordFile: "TSDASK_PASSWORD_FILE",
  nkeySeedFile: "TSDASK_NKEY_FILE",
  credsFile: "TSDASK_CREDS",
  tlsCaFile: "TSDASK_TLS_CA",
  tlsCertFile: "TSDASK_TLS_CERT",
  tlsKeyFile: "TSDASK_TLS_KEY",
} as const;

/** The command-line flags of the same settings (secrets only as files). */
export interface AuthFlags {
  token?: string;
  "token-file"?: string;
  user?: string;
  "password-file"?: string;
  nkey?: string;
  creds?: string;
  "tls-ca"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
}

/** Names of the {@link AuthFlags}, for the CLI's flag table. */
export const AUTH_FLAG_NAMES = ["token", "token-file", "user", "password-file", "nkey", "creds", "tls-ca", "tls-cert", "tls-key"] as const;

/** A secret file's content, trimmed; a clear error naming the file and the setting when unreadable or empty. */
export function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw Errors.SecretFileUnreadable(what, path, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
  }
  const value = text.trim();
  if (!value) throw Errors.SecretFileUnreadable(what, path, "the file is empty");
  return value;
}

/**
 * Credentials from flags first, then the environment: `--token-file` / `$TSDASK_TOKEN_FILE` /
 * `$TSDASK_TOKEN`, `--user` / `$TSDASK_USER` with `--password-file` / `$TSDASK_PASSWORD_FILE` /
 * `$TSDASK_PASSWORD`, `--nkey` / `$TSDASK_NKEY_FILE`, `--creds` / `$TSDASK_CREDS`, `--tls-ca`,
 * `--tls-cert`, `--tls-key` / `$TSDASK_TLS_*`. `--token T` is still accepted (older scripts) but
 * `warn` is told that `ps` shows it. Files are read here, so a missing one fails at start.
 */
export function authFromSources(flags: AuthFlags, env: NodeJS.ProcessEnv = process.env, warn: (msg: string) => void = () => {}): NatsAuth {
  const auth: NatsAuth = {};
  const e = (k: keyof typeof AUTH_ENV) => (env[AUTH_ENV[k]] === "" ? undefined : env[AUTH_ENV[k]]);
  if (flags.token !== undefined) {
    warn("--token puts the secret on the command line, where `ps` shows it to every user of this machine: prefer --token-file FILE or $TSDASK_TOKEN");
    auth.token = flags.token;
  } else if (flags["token-file"] !== undefined) auth.token = readSecretFile(flags["token-file"], "--token-file");
  else if (e("tokenFile") !== undefined) auth.token = readSecretFile(e("tokenFile")!, `$${AUTH_ENV.tokenFile}`);
  else if (e("token") !== undefined) auth.token = e("token");

  auth.user = flags.user ?? e("user");
  if (flags["password-file"] !== undefined) auth.password = readSecretFile(flags["password-file"], "--password-file");
  else if (e("passwordFile") !== undefined) auth.password = readSecretFile(e("passwordFile")!, `$${AUTH_ENV.passwordFile}`);
  else if (e("password") !== undefined) auth.password = e("password");
  if ((auth.user === undefined) !== (auth.password === undefined)) {
    throw Errors.BadAuth(auth.user === undefined ? "a password was given without --user (or $TSDASK_USER)" : `user '${auth.user}' needs a password: --password-file FILE or $TSDASK_PASSWORD`);
  }

  auth.nkeySeedFile = flags.nkey ?? e("nkeySeedFile");
  auth.credsFile = flags.creds ?? e("credsFile");
  auth.tlsCaFile = flags["tls-ca"] ?? e("tlsCaFile");
  auth.tlsCertFile = flags["tls-cert"] ?? e("tlsCertFile");
  auth.tlsKeyFile = flags["tls-key"] ?? e("tlsKeyFile");
  for (const k of Object.keys(auth) as (keyof NatsAuth)[]) if (auth[k] === undefined) delete auth[k];
  checkAuth(auth);
  return auth;
}

/** Rejects combinations NATS cannot use, with a message saying which. */
export function checkAuth(auth: NatsAuth): void {
  const kinds = [auth.token !== undefined && "a token", auth.user !== undefined && "a user", auth.nkeySeedFile && "an nkey", auth.credsFile && "a creds file"].filter(Boolean);
  if (kinds.length > 1) throw Errors.BadAuth(`${kinds.join(" and ")} were given: use one way to authenticate`);
  if (!!auth.tlsCertFile !== !!auth.tlsKeyFile) throw Errors.BadAuth("a TLS client certificate needs its key and the key its certificate: --tls-cert FILE --tls-key FILE");
  for (const [what, path] of [["--nkey", auth.nkeySeedFile], ["--creds", auth.credsFile], ["--tls-ca", auth.tlsCaFile], ["--tls-cert", auth.tlsCertFile], ["--tls-key", auth.tlsKeyFile]] as const) {
    if (path) readSecretFile(path, what); // fails now, naming the file, rather than at the first connect
  }
}

/** True when the settings ask for TLS. */
export function wantsTls(auth: NatsAuth | undefined): boolean {
  return !!(auth?.tls || auth?.tlsCaFile || auth?.tlsCertFile);
}

/** How the connection authenticates, for messages (never the secret itself). */
export function describeAuth(auth: NatsAuth | undefined): string {
  const how = auth?.token !== undefined ? "a token" : auth?.user !== undefined ? `user '${auth.user}' with a password` : auth?.nkeySeedFile ? `the nkey in ${auth.nkeySeedFile}` : auth?.credsFile ? `the credentials in ${auth.credsFile}` : "no credentials";
  return wantsTls(auth) ? `${how}, over TLS${auth?.tlsCertFile ? ` with the client certificate ${auth.tlsCertFile}` : ""}` : how;
}

/**
 * A client's subject scope (protocol.ts "Client scopes"): `explicit` when given (a subject token,
 * else {@link Errors.BadOption}), else the NATS user name (`auth.user`, or `user:pass@` in one of
 * the `servers` URLs) when it is a subject token, else none.
 */
export function clientScope(explicit: string | undefined, auth: NatsAuth | undefined, servers: string): string | undefined {
  const token = (s: string) => /^[A-Za-z0-9_-]+$/.test(s);
  if (explicit !== undefined) {
    if (!token(explicit)) throw Errors.BadOption("scope", explicit, "letters, digits, '_' and '-' (it is a NATS subject token)");
    return explicit;
  }
  if (auth?.token !== undefined || auth?.nkeySeedFile || auth?.credsFile) return undefined;
  const user = auth?.user ?? /^[a-z]+:\/\/([^:@/,\s]+):[^@/,\s]*@/i.exec(servers.split(",")[0]!.trim())?.[1];
  return user !== undefined && token(decodeURIComponent(user)) ? decodeURIComponent(user) : undefined;
}

/** `url` (or a comma-separated list) with any `user:password@` or `token@` replaced by `***@`. */
export function redactUrl(url: string): string {
  return url.replace(/([a-z]+:\/\/)[^@/,\s]+@/gi, "$1***@");
}

/** The host of a server URL (`nats://h:4222`, `h:4222`, `[::1]:4222`), without brackets. */
export function hostOf(url: string): string | undefined {
  try {
    return new URL(/^[a-z]+:\/\//i.test(url) ? url : `nats://${url}`).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return undefined;
  }
}

/** The ts-dask error for a connect failure that retrying cannot fix (credentials, TLS), or undefined. */
export function refusal(e: unknown, servers: string, auth: NatsAuth): Error | undefined {
  const err = e as { code?: string; message?: string; chainedError?: { code?: string; message?: string } };
  const code = String(err?.code ?? "");
  const message = String(err?.message ?? e);
  if (code === "AUTHORIZATION_VIOLATION" || code === "AUTHENTICATION_EXPIRED" || /authorization|authentication/i.test(message)) {
    return Errors.AuthFailed(servers, describeAuth(auth), message);
  }
  const inner = err?.chainedError ?? err;
  const tlsCode = String(inner?.code ?? "");
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|EPROTO/.test(tlsCode) || /certificate|tls|ssl/i.test(String(inner?.message ?? ""))) {
    const why = code === "SERVER_OPT_NA" || /^tls$/i.test(message) ? "the server does not offer TLS but TLS is required (tls:// or a --tls-* option)" : `${tlsCode ? `${tlsCode}: ` : ""}${inner?.message ?? message}`;
    return Errors.TlsFailed(servers, why);
  }
  if (code === "SERVER_OPT_NA" && /tls/i.test(message)) return Errors.TlsFailed(servers, "the server does not offer TLS but TLS is required (tls:// or a --tls-* option)");
  return undefined;
}

/**
 * Splits credentials out of server URLs, which nats.js ignores: `nats://TOKEN@host:4222` (what
 * `ts-dask up --lan` prints) or `nats://user:pass@host:4222`; `tls://host:4222` becomes
 * `nats://host:4222` with `tls: true` (nats.js decides TLS from options, not the scheme).
 */
export function credentials(serverList: string): { servers: string[]; token?: string; user?: string; pass?: string; tls?: boolean } {
  let token: string | undefined;
  let user: string | undefined;
  let pass: string | undefined;
  let tls: boolean | undefined;
  const servers = serverList.split(",").map((raw) => {
    let s = raw.trim();
    if (/^tls:\/\//i.test(s)) (tls = true), (s = `nats://${s.slice(6)}`);
    const m = /^([a-z]+:\/\/)([^@/]+)@(.*)$/i.exec(s);
    if (!m) return s;
    const [name, pw] = m[2]!.split(":").map(decodeURIComponent);
    if (pw === undefined) token = name;
    else (user = name), (pass = pw);
    return m[1]! + m[3]!;
  });
  return { servers, token, user, pass, tls };
}
