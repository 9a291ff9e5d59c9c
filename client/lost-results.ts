/**
 * Results lost on the way. NATS delivers at most once: a result the scheduler published can be
 * dropped (a route between NATS nodes that fell behind, a publish that overflowed a reconnecting
 * connection's buffer) without this client seeing any disconnection, and its future would wait
 * forever while the scheduler counts the task done and holds nothing of it.
 *
 * Each lease renewal's answer says how many of this client's rows the scheduler still holds
 * (`RegisterReply.held`). The answer travels behind every result the scheduler sent before it,
 * so when every submit is acknowledged, rows we wait for beyond `held` have no result coming.
 * The same shortfall twice in a row, nothing settled in between, is taken as loss: the pending
 * rows are re-submitted marked `resync` (the scheduler skips the ones it still holds), and a row
 * that then runs twice still resolves once.
 */
export class LostResultsWatch {
  private last: { waiting: number; held: number } | undefined;

  /**
   * One renewal's figures: rows this client waits for, rows the scheduler holds (undefined from a
   * scheduler that does not say), and whether every submit was acknowledged. True when rows are
   * lost (then it starts over).
   */
  observe(waiting: number, held: number | undefined, submitsAcked: boolean): boolean {
    if (held === undefined || !submitsAcked || waiting <= held) {
      this.last = undefined;
      return false;
    }
    const prev = this.last;
    if (prev && prev.waiting === waiting && prev.held === held) {
      this.last = undefined;
      return true;
    }
    this.last = { waiting, held };
    return false;
  }
}
