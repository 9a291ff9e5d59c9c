/**
 * Test certificates made with openssl (Debian's, as in CI): a CA, server certificates for given
 * names, client certificates. Every file lands in `dir`; keys are mode 0600.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr || r.error?.message}`);
}

export interface Cert {
  cert: string;
  key: string;
}

/** A self-signed CA called `name`: `<name>.pem`, `<name>.key`. */
export function makeCa(dir: string, name: string): Cert {
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${name}`], dir);
  chmodSync(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/**
 * A certificate signed by `ca`: for a server, `altNames` like `["IP:127.0.0.1", "DNS:nats"]`
 * (what hostname verification checks); for a client, `usage: "clientAuth"`.
 */
export function makeCert(dir: string, ca: Cert, name: string, opts: { altNames?: string[]; usage: "serverAuth" | "clientAuth" }): Cert {
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
  const ext = [`extendedKeyUsage=${opts.usage}`, ...(opts.altNames?.length ? [`subjectAltName=${opts.altNames.join(",")}`] : [])].join("\n");
  writeFileSync(join(dir, `${name}.ext`), ext + "\n");
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`], dir);
  chmodSync(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}
