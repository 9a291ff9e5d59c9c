/** scikit-learn's ParameterGrid: every combination of parameter values. */
import { Errors } from "../../runtime/errors.ts";

/** One grid: each parameter's candidate values. */
export type ParamGridSpec = Readonly<Record<string, readonly unknown[]>>;

/** A grid, or a list of grids (their combinations are concatenated). */
export type ParamGrid = ParamGridSpec | readonly ParamGridSpec[];

/** The parameter object a grid produces: each key takes one of its values. */
export type ParamsOf<G> = G extends readonly (infer S)[] ? ParamsOfSpec<S> : ParamsOfSpec<G>;
type ParamsOfSpec<S> = { [K in keyof S]: S[K] extends readonly (infer V)[] ? V : never };

/**
 * Every combination, in scikit-learn's order: keys sorted, the last key varying fastest; grids of
 * a list one after the other.
 *
 * @example
 * expandGrid({ C: [1, 10], kernel: ["a", "b"] }) // [{C:1,kernel:"a"},{C:1,kernel:"b"},{C:10,kernel:"a"},{C:10,kernel:"b"}]
 * @throws `BadOption` for a parameter whose values are not a non-empty array
 */
export function expandGrid<G extends ParamGrid>(grid: G): ParamsOf<G>[] {
  const grids: readonly ParamGridSpec[] = Array.isArray(grid) ? grid : [grid as ParamGridSpec];
  const out: Record<string, unknown>[] = [];
  for (const g of grids) {
    const keys = Object.keys(g).sort();
    for (const k of keys) {
      const vs = g[k];
      if (!Array.isArray(vs) || vs.length === 0) throw Errors.BadOption(`paramGrid.${k}`, vs, "a non-empty array of values");
    }
    const combo = (i: number, acc: Record<string, unknown>) => {
      if (i === keys.length) {
        out.push({ ...acc });
        return;
      }
      for (const v of g[keys[i]!]!) {
        acc[keys[i]!] = v;
        combo(i + 1, acc);
      }
    };
    combo(0, {});
  }
  return out as ParamsOf<G>[];
}
