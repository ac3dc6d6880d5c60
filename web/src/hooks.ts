/** Data loading for screens: load once, reload on demand, poll while something is in progress. */
import { useCallback, useEffect, useRef, useState } from 'react';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  reload: () => Promise<void>;
}

/**
 * Runs `load` at mount and whenever `deps` change; with `pollMs` (a number, or a function of the
 * last data returning a number or null) it loads again after each answer while the page is open.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number | ((data: T | undefined) => number | null)): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const pollRef = useRef(pollMs);
  pollRef.current = pollMs;
  const generation = useRef(0);

  const reload = useCallback(async () => {
    const gen = generation.current;
    try {
      const value = await loadRef.current();
      if (gen !== generation.current) return;
      setData(value);
      setError(null);
    } catch (err) {
      if (gen !== generation.current) return;
      setError(err as Error);
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    const gen = ++generation.current;
    setLoading(true);
    setData(undefined);
    setError(null);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last: T | undefined;
    const tick = async () => {
      try {
        last = await loadRef.current();
        if (gen !== generation.current) return;
        setData(last);
        setError(null);
      } catch (err) {
        if (gen !== generation.current) return;
        setError(err as Error);
      } finally {
        if (gen === generation.current) setLoading(false);
      }
      if (gen !== generation.current) return;
      const p = pollRef.current;
      const ms = typeof p === 'function' ? p(last) : p;
      if (ms) timer = setTimeout(tick, ms);
    };
    void tick();
    return () => {
      generation.current++;
      if (timer) clearTimeout(timer);
    };
  }, deps);

  return { data, error, loading, reload };
}
