/**
 * Finds what a function would take from the scope it was defined in: free identifiers that are not
 * globals of every executor, and `this`/`super`/`arguments`/`import.meta` that belong to the client.
 */
import type { Node } from "acorn";
import type { Node as EsNode } from "estree";
import { analyze } from "periscopic";
import { allowedGlobals } from "./globals.ts";
import type { FunctionNode } from "./parse.ts";

/** What a function uses from outside itself. */
export interface Captures {
  /** Free identifiers that are not executor globals: sorted, unique. */
  names: string[];
  /** A construct that refers to the client's context, if any: "this", "super" or "import.meta". */
  context?: "this" | "super" | "import.meta";
}

/**
 * Scans `root` (which contains `fn`) for captured names.
 * `arguments` is the function's own unless `fn` is an arrow: then it is the enclosing function's, a capture.
 */
export function findCaptures(root: Node, fn: FunctionNode): Captures {
  const allowed = allowedGlobals();
  const free = new Set<string>();
  for (const name of analyze(root as unknown as EsNode).globals.keys()) {
    if (name !== "arguments" && !allowed.has(name)) free.add(name);
  }
  const ctx = scanContext(root, fn);
  if (ctx.arguments) free.add("arguments");
  return { names: [...free].sort(), context: ctx.context };
}

type AnyNode = Node & Record<string, unknown>;

/**
 * One walk over the tree, tracking whether we are inside a function nested in `fn` (whose `this`
 * is its own) and inside any non-arrow function (whose `arguments` is its own).
 */
function scanContext(root: Node, fn: FunctionNode) {
  let context: Captures["context"];
  let capturedArguments = false;
  const visit = (node: AnyNode, parent: AnyNode | undefined, key: string, ownThis: boolean, ownArguments: boolean): void => {
    switch (node.type) {
      case "FunctionExpression":
      case "FunctionDeclaration":
        // The shipped function's own `this` is a receiver that will not exist on the worker.
        ownThis = node !== fn;
        ownArguments = true;
        break;
      case "ClassExpression":
      case "ClassDeclaration":
        ownThis = true;
        break;
      case "ThisExpression":
        if (!ownThis) context ??= "this";
        return;
      case "Super":
        if (!ownThis) context ??= "super";
        return;
      case "MetaProperty":
        if ((node.meta as AnyNode).name === "import") context ??= "import.meta";
        return;
      case "Identifier":
        if (node.name === "arguments" && !ownArguments && isReference(parent, key)) capturedArguments = true;
        return;
    }
    for (const k in node) {
      if (k === "type" || k === "start" || k === "end" || k === "loc" || k === "range") continue;
      const v = node[k];
      if (Array.isArray(v)) {
        for (const child of v) if (isNode(child)) visit(child, node, k, ownThis, ownArguments);
      } else if (isNode(v)) visit(v, node, k, ownThis, ownArguments);
    }
  };
  visit(root as AnyNode, undefined, "", false, false);
  return { context, arguments: capturedArguments };
}

function isNode(v: unknown): v is AnyNode {
  return typeof v === "object" && v !== null && typeof (v as { type?: unknown }).type === "string";
}

/** False for identifiers that name a property rather than a variable (`o.arguments`, `{ arguments: 1 }`). */
function isReference(parent: AnyNode | undefined, key: string): boolean {
  if (!parent) return true;
  if ((parent.type === "MemberExpression" || parent.type === "PropertyDefinition" || parent.type === "MethodDefinition") && key === (parent.type === "MemberExpression" ? "property" : "key")) {
    return parent.computed === true;
  }
  if (parent.type === "Property" && key === "key") return parent.computed === true || parent.shorthand === true;
  return true;
}
