/**
 * NATS decentralised auth (operator / account / user JWTs) made by the test with nkeys, for a
 * nats-server in operator mode with a memory resolver: {@link operatorSetup} returns the server
 * config text and {@link userCreds} writes `.creds` files (user JWT + seed) as `nsc` would.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { nkeys } from "nats";

type KeyPair = ReturnType<typeof nkeys.createOperator>;
const b64url = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
const enc = new TextEncoder();

function jwt(signer: KeyPair, sub: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey(), name, sub, nats: { ...nats, version: 2 } };
  claims.jti = createHash("sha256").update(JSON.stringify(claims)).digest("base64url").slice(0, 52).toUpperCase();
  const head = `${b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${b64url(signer.sign(enc.encode(head)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1 };

export interface Operator {
  /** nats-server config text: operator JWT, memory resolver with the accounts preloaded. */
  config: string;
  account(name: string): KeyPair;
}

/** An operator and accounts (one per name), as config text for the server. */
export function operatorSetup(accounts: string[]): Operator {
  const op = nkeys.createOperator();
  const opJwt = jwt(op, op.getPublicKey(), "tsdask-test-operator", { type: "operator" });
  const pairs = new Map(accounts.map((a) => [a, nkeys.createAccount()]));
  const preload = [...pairs].map(([name, kp]) => {
    const j = jwt(op, kp.getPublicKey(), name, { type: "account", limits: { ...UNLIMITED, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 }, default_permissions: { pub: {}, sub: {} } });
    return `  ${kp.getPublicKey()}: "${j}"`;
  });
  return {
    config: `operator: "${opJwt}"\nresolver: MEMORY\nresolver_preload: {\n${preload.join("\n")}\n}\n`,
    account: (name) => pairs.get(name)!,
  };
}

/** Writes a `.creds` file for a new user of `account`; `permissions` as in a user JWT (`{ pub: { allow: [...] } }`). */
export function userCreds(file: string, account: KeyPair, name: string, permissions: Record<string, unknown> = {}): void {
  const user = nkeys.createUser();
  const j = jwt(account, user.getPublicKey(), name, { type: "user", ...UNLIMITED, pub: {}, sub: {}, ...permissions });
  const seed = new TextDecoder().decode(user.getSeed());
  writeFileSync(
    file,
    `-----BEGIN NATS USER JWT-----\n${j}\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`,
    { mode: 0o600 },
  );
}
