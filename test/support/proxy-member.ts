/**
 * A member of `target` as a Proxy's get trap hands it out: a method bound to the target (so it
 * still reaches the target's private fields), anything else as it is. Tests wrap a store or a
 * service in a Proxy to intercept one method and pass the rest through with this.
 */
export function memberOf(target: object, property: string | symbol): unknown {
  const value: unknown = Reflect.get(target, property, target);
  return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
}
