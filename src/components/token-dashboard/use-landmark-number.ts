'use client';
import { useCallback, useEffect, useId, useSyncExternalStore } from 'react';

// Mounted landmarks per name, in mount order (module state: one page, one registry).
const mounted = new Map<string, string[]>();
const listeners = new Set<() => void>();
const notify = () => {
  for (const listener of listeners) listener();
};

/**
 * Internal: the position (1, 2, …) of this component among the mounted ones that share `name`, so
 * the second "AI token balance" region on a page can be told apart (axe `landmark-unique`). 1 on the
 * server and in the first client render (so hydration matches); `null` opts out (the app names it).
 *
 * @example
 * const n = useLandmarkNumber(title); // 2 for the second dashboard titled the same
 */
export function useLandmarkNumber(name: string | null): number {
  const id = useId();
  useEffect(() => {
    if (name === null) return;
    mounted.set(name, [...(mounted.get(name) ?? []), id]);
    notify();
    return () => {
      const rest = (mounted.get(name) ?? []).filter((other) => other !== id);
      if (rest.length > 0) mounted.set(name, rest);
      else mounted.delete(name);
      notify();
    };
  }, [name, id]);
  const subscribe = useCallback((onChange: () => void) => {
    listeners.add(onChange);
    return () => void listeners.delete(onChange);
  }, []);
  const position = () => (name === null ? 1 : Math.max(1, (mounted.get(name)?.indexOf(id) ?? -1) + 1));
  return useSyncExternalStore(subscribe, position, () => 1);
}
