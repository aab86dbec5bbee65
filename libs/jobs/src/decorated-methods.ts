import type { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';

export interface DecoratedMethod<M> {
  /** "ClassName.method", for logs and errors. */
  name: string;
  meta: M;
  /** The method bound to its provider instance. */
  call: (...args: never[]) => unknown;
}

/**
 * Methods of the application's providers that carry metadata under `key` (set by a method
 * decorator such as @OnJobSucceeded or @RespondsTo). Only singletons: a request-scoped provider
 * has no instance to bind to at start-up.
 */
export function findDecoratedMethods<M>(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  reflector: Reflector,
  key: string,
): DecoratedMethod<M>[] {
  const found: DecoratedMethod<M>[] = [];
  for (const wrapper of discovery.getProviders()) {
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
    const proto = Object.getPrototypeOf(instance) as object | null;
    if (!proto) continue;
    for (const method of scanner.getAllMethodNames(proto)) {
      const fn = instance[method];
      if (typeof fn !== 'function') continue;
      const meta = reflector.get<M | undefined>(key, fn as (...args: never[]) => unknown);
      if (meta === undefined) continue;
      found.push({
        name: `${instance.constructor.name}.${method}`,
        meta,
        call: (fn as (...args: never[]) => unknown).bind(instance),
      });
    }
  }
  return found;
}
