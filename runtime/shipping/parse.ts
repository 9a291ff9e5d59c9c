/**
 * Turns the text of `Function.prototype.toString()` into an expression that evaluates to the same
 * function, and its syntax tree — or rejects functions that cannot travel by source.
 */
import { parse, type Node } from "acorn";
import { Errors } from "../errors.ts";

/** A shipped function's source, ready for analysis. */
export interface ParsedFunction {
  /** An expression that evaluates to the function (the `toString()` text, or a wrapper for methods). */
  source: string;
  /** The tree to scan for free identifiers: the function, or for a method the object literal around it (its computed key counts too). */
  root: Node;
  /** The function node itself (where `this` and `arguments` belong). */
  fn: FunctionNode;
}

/** The parts of an acorn function node the analysis reads. */
export interface FunctionNode extends Node {
  type: "ArrowFunctionExpression" | "FunctionExpression";
}

interface PropertyNode extends Node {
  type: "Property";
  kind: "init" | "get" | "set";
  method: boolean;
  computed: boolean;
  key: Node & { name?: string; value?: unknown };
  value: Node;
}

// `function () { [native code] }`: built-ins, bound functions and proxies have no source to send.
const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

/**
 * Parses `text` (from `fn.toString()`) as strict-mode code, the way ES modules and TypeScript
 * output run. Accepts arrow functions, function expressions/declarations (also async and
 * generators) and object-literal methods (`m(x) {…}`, `async m() {…}`, `*g() {…}`).
 *
 * @throws {@link Errors.FunctionNotShippable} for native and bound functions, classes, getters and setters.
 */
export function parseFunctionSource(text: string, fnName: string): ParsedFunction {
  if (NATIVE.test(text)) {
    throw Errors.FunctionNotShippable(
      fnName,
      fnName.startsWith("bound ")
        ? "it is a bound function (made by .bind()), whose source is not available; pass the original function and give it the bound values as arguments"
        : "it is a native (built-in) function, whose source is not available; wrap it in a self-contained function, e.g. (x) => Math.sqrt(x)",
    );
  }
  // Newline before the closer: harmless, and safe even if the text ended in a line comment.
  const asExpression = tryParse(`(${text}\n)`);
  if (asExpression.ok) {
    const node = expressionOf(asExpression.program);
    if (node?.type === "ArrowFunctionExpression" || node?.type === "FunctionExpression") {
      return { source: text, root: node, fn: node as FunctionNode };
    }
    if (node?.type === "ClassExpression") {
      throw Errors.FunctionNotShippable(
        fnName,
        "it is a class; only functions can be sent by source (create instances inside the function, or export the class from a module loaded with client.importModule())",
      );
    }
    throw Errors.FunctionNotShippable(fnName, "its source does not look like a function");
  }
  // Object-literal (or class) method shorthand is not an expression on its own: `m(x){…}`.
  const asMethod = tryParse(`({${text}\n})`);
  const object = asMethod.ok ? expressionOf(asMethod.program) : undefined;
  const prop = object?.type === "ObjectExpression" ? (object as Node & { properties: Node[] }).properties : undefined;
  if (object && prop?.length === 1 && prop[0]!.type === "Property") {
    const p = prop[0] as PropertyNode;
    if (p.kind !== "init") {
      throw Errors.FunctionNotShippable(fnName, `it is a ${p.kind === "get" ? "getter" : "setter"}; pass a plain function instead`);
    }
    if (p.method && p.value.type === "FunctionExpression") {
      return { source: methodExpression(text, p), root: object, fn: p.value as FunctionNode };
    }
  }
  const detail = asExpression.error.replace(/\s*\(\d+:\d+\)$/, "");
  throw Errors.FunctionNotShippable(fnName, `its source does not parse as strict-mode JavaScript (${detail})`);
}

/**
 * Parses a class's `toString()` text (user actors, issue 14). The class node is both the tree to
 * scan and the "function": `this` and `super` inside a class are its own.
 *
 * @throws {@link Errors.FunctionNotShippable} when the text is not a class.
 */
export function parseClassSource(text: string, className: string): ParsedFunction {
  const parsed = tryParse(`(${text}\n)`);
  const node = parsed.ok ? expressionOf(parsed.program) : undefined;
  if (node?.type !== "ClassExpression") throw Errors.FunctionNotShippable(className, "it is not a class (client.actor() takes a class)");
  return { source: text, root: node, fn: node as unknown as FunctionNode };
}

/** An expression evaluating to the method `text`, keeping its method semantics (its own name, no own binding of that name). */
function methodExpression(text: string, p: PropertyNode): string {
  const object = `({${text}})`;
  if (!p.computed && p.key.type === "Identifier") return `${object}.${p.key.name}`;
  if (!p.computed && p.key.type === "Literal") return `${object}[${JSON.stringify(String(p.key.value))}]`;
  // A computed key (possibly a symbol): take the only own key, whatever it evaluates to.
  return `((o) => o[Reflect.ownKeys(o)[0]])${object}`;
}

function tryParse(code: string): { ok: true; program: Node } | { ok: false; error: string } {
  try {
    // sourceType "module": strict mode, and `import.meta` parses (so it can be rejected by name).
    return { ok: true, program: parse(code, { ecmaVersion: "latest", sourceType: "module" }) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

function expressionOf(program: Node): Node | undefined {
  const body = (program as Node & { body: Node[] }).body;
  const stmt = body.length === 1 ? body[0] : undefined;
  return stmt?.type === "ExpressionStatement" ? (stmt as Node & { expression: Node }).expression : undefined;
}
