/**
 * TypeScript for user code only: compiled ts-dask runs plain JavaScript, and loads tsx's ESM
 * loader into a process the first time that process must import a user's `.ts` file (an upload).
 * Functions and `importModule` bundles need no loader: they arrive as JavaScript.
 */
import { FROM_SOURCE } from "../self.ts";

let registered: Promise<void> | undefined;

/** True for a file name that needs the TypeScript loader. */
export const isTypeScriptFile = (file: string): boolean => /\.[cm]?tsx?$/.test(file);

/**
 * Registers tsx's ESM loader in this process, once (from source it is already there). Resolves
 * when later `import()`s of `.ts` files work.
 */
export function ensureTypeScriptLoader(): Promise<void> {
  if (FROM_SOURCE) return Promise.resolve();
  return (registered ??= import("tsx/esm/api").then((tsx) => {
    tsx.register();
  }));
}
