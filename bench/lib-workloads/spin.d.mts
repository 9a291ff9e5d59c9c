/** `k` rounds of integer arithmetic; see spin.mjs. */
export default function spin(k: number): number;
