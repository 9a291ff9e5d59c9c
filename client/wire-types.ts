/**
 * Types that say what travels. Arguments and results cross the wire as msgpack (runtime/codec.ts):
 * data survives, classes do not. {@link Wire} is the type a value has on the other side, so a
 * Future's type promises no more than what arrives.
 */
import type { DataRef } from "../runtime/data-ref.ts";
import type { Future } from "./future.ts";

/**
 * What a value of type `T` is after the trip: a class instance becomes a plain object of its data
 * (methods gone), a `Buffer` a `Uint8Array`, `undefined` `null`; typed arrays, `Date`, `BigInt`,
 * `Map`, `Set` and `Error` keep their type.
 */
export type Wire<T> = 0 extends 1 & T
  ? any // eslint-disable-line @typescript-eslint/no-explicit-any -- `any` stays `any`
  : T extends Function
    ? never
    : T extends Buffer
      ? Uint8Array
      : T extends undefined | void
        ? null
        : T extends string | number | boolean | bigint | null | Date | ArrayBufferView | ArrayBuffer | Error | DataRef
          ? T
          : T extends Map<infer K, infer V>
            ? Map<Wire<K>, Wire<V>>
            : T extends Set<infer V>
              ? Set<Wire<V>>
              : T extends readonly unknown[]
                ? { [K in keyof T]: Wire<T[K]> }
                : T extends object
                  ? { [K in keyof T as T[K] extends Function ? never : K]: Wire<T[K]> }
                  : T;

/** The value a task of `F` resolves with, as it arrives. */
export type Result<F> = F extends (...a: any[]) => infer R ? Wire<Awaited<R>> : never;

/** One argument: the value, a scattered value's reference, or the Future of another task. */
export type Arg<T> = T | DataRef<T> | Future<T>;

/** Each argument may also be a scattered value's reference, or the Future of another task. */
export type Args<P extends readonly unknown[]> = { [K in keyof P]: Arg<P[K]> };

/** map()'s iterables for a function of parameters `P`: one per parameter, in lockstep. */
export type Iterables<P extends readonly unknown[]> = { [K in keyof P]: ArrayLike<Arg<P[K]>> | Iterable<Arg<P[K]>> };
