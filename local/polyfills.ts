/**
 * aws-local-stepfunctions 3 calls Promise.withResolvers (Node 22); Node 20 lacks it and every Task
 * would fail. Imported before the interpreter (see STACK-NOTES).
 */
type Resolvers<T> = { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void };
const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };
P.withResolvers ??= function <T>(this: PromiseConstructor): Resolvers<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new this<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
};
export {};
