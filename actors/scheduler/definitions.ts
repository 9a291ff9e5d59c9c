/**
 * Function and module definitions the scheduler holds (issue 15: a scheduler that stays up for
 * weeks sees many scripts, each with its own functions and module versions). A client sends a
 * definition once, with its first submit that uses it, and may submit it again as long as it is
 * registered, so a definition is kept while at least one client that sent it is registered here.
 * When the last one is dropped, the definition goes (and executors are told to forget it). A
 * client that comes back is `fresh` and sends its definitions again.
 */
import type { FnDef, ModuleDef } from "../../runtime/protocol.ts";

export class Definitions {
  readonly fns = new Map<string, FnDef>();
  readonly mods = new Map<string, ModuleDef>();
  /** Hash (function or module) → number of registered clients that sent it. */
  private readonly owners = new Map<string, number>();
  /** Client id → hashes it sent. */
  private readonly byClient = new Map<string, Set<string>>();

  /** Records definitions a client sent with a submit. */
  add(client: string, fns: readonly FnDef[] | undefined, mods: readonly ModuleDef[] | undefined): void {
    if (!fns?.length && !mods?.length) return;
    let mine = this.byClient.get(client);
    if (!mine) this.byClient.set(client, (mine = new Set()));
    for (const f of fns ?? []) {
      this.fns.set(f.hash, f);
      this.own(mine, f.hash);
    }
    for (const d of mods ?? []) {
      this.mods.set(d.hash, d);
      this.own(mine, d.hash);
    }
  }

  private own(mine: Set<string>, hash: string) {
    if (mine.has(hash)) return;
    mine.add(hash);
    this.owners.set(hash, (this.owners.get(hash) ?? 0) + 1);
  }

  /** A client was dropped: definitions no registered client sent any more are forgotten; returns them. */
  dropClient(client: string): { fns: string[]; mods: string[] } {
    const out = { fns: [] as string[], mods: [] as string[] };
    const mine = this.byClient.get(client);
    if (!mine) return out;
    this.byClient.delete(client);
    for (const h of mine) {
      const n = (this.owners.get(h) ?? 1) - 1;
      if (n > 0) {
        this.owners.set(h, n);
        continue;
      }
      this.owners.delete(h);
      if (this.fns.delete(h)) out.fns.push(h);
      if (this.mods.delete(h)) out.mods.push(h);
    }
    return out;
  }

  /** Counts, for info. */
  counts(): { fns: number; mods: number; clients: number } {
    return { fns: this.fns.size, mods: this.mods.size, clients: this.byClient.size };
  }
}
