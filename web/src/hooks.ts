/** Data loading for screens (load once, reload on demand, poll while something is in progress) and form submission. */
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';

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

  // One load into state, ignored if a newer generation (deps changed, unmounted) began meanwhile.
  // Answers the loaded value, or null when the load failed or was superseded.
  const loadOnce = useCallback(async (gen: number): Promise<{ value: T } | null> => {
    try {
      const value = await loadRef.current();
      if (gen !== generation.current) return null;
      setData(value);
      setError(null);
      return { value };
    } catch (err) {
      if (gen === generation.current) setError(err as Error);
      return null;
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  }, []);

  const reload = useCallback(async () => {
    await loadOnce(generation.current);
  }, [loadOnce]);

  useEffect(() => {
    const gen = ++generation.current;
    setLoading(true);
    setData(undefined);
    setError(null);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last: T | undefined;
    const tick = async () => {
      const loaded = await loadOnce(gen);
      if (gen !== generation.current) return;
      if (loaded) last = loaded.value;
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

export interface Submit {
  busy: boolean;
  error: Error | null;
  onSubmit: (e: FormEvent) => Promise<void>;
}

/**
 * A form's submit handler around `action`: no page reload, busy while it runs, and the error it
 * throws kept for an ErrorNotice (cleared on the next submit).
 */
export function useSubmit(action: () => Promise<void>): Submit {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, onSubmit };
}
