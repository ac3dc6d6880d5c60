/**
 * A run's log for the viewer (seed 001 "SmartLogViewer"): a finished run is read once over HTTP
 * (the historical view); a live run is followed over the WebSocket of SPEC §6, resuming after the
 * last `line_num` seen whenever the connection drops. While the socket is down, the stored log is
 * polled over HTTP so the page keeps up. Incoming lines are batched: one render per animation frame.
 */
import { useEffect, useRef, useState } from 'react';
import { api, getToken } from '../api';
import type { Meta } from '../types';
import { fromHistory, fromWire, LogBuffer, type LogLine, type WireMessage } from './model';

export type LogStatus = 'loading' | 'connecting' | 'live' | 'reconnecting' | 'completed' | 'error';

export interface RunLog {
  buffer: LogBuffer;
  /** changes whenever lines were added */
  version: number;
  status: LogStatus;
  /** true when the lines came from the historical view (no per-line times) */
  historical: boolean;
  error: string | null;
}

interface LogsJson {
  logs: { plan: { output: string } | null; apply: { output: string } | null };
}

let metaPromise: Promise<Meta> | null = null;
const getMeta = () => (metaPromise ??= api.get<Meta>('/meta').catch((err) => {
  metaPromise = null;
  throw err;
}));

async function fetchHistory(taskId: number): Promise<LogLine[]> {
  const r = await api.get<LogsJson>(`/tasks/${taskId}/logs?type=all&format=json`);
  return fromHistory(r.logs.plan?.output, r.logs.apply?.output);
}

/** What the log's stage markers tell the progress bar, sooner than polling the run would. */
export interface StageMarks {
  /** begin time of each stage (the latest, for stages that run in both phases) */
  starts: Record<string, string>;
  /** end time of each stage (the latest) */
  ends: Record<string, string>;
  /** the stage begun and not yet ended, with its phase */
  active: { stage: string; phase: 'plan' | 'apply' } | null;
}

export function useRunLog(taskId: number, runIsFinal: boolean | undefined, onMarkers?: (marks: StageMarks) => void): RunLog {
  const bufferRef = useRef<LogBuffer>(new LogBuffer());
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<LogStatus>('loading');
  const [historical, setHistorical] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const finalRef = useRef(runIsFinal);
  finalRef.current = runIsFinal;
  const onMarkersRef = useRef(onMarkers);
  onMarkersRef.current = onMarkers;
  // Which view: decided once, from the run's status when the page first knows it.
  const [mode, setMode] = useState<'history' | 'live' | null>(null);
  useEffect(() => {
    if (mode === null && runIsFinal !== undefined) setMode(runIsFinal ? 'history' : 'live');
  }, [mode, runIsFinal]);

  // Shared by both modes: batch lines into one render per frame.
  const pump = useRef<{ pending: LogLine[]; last: number; scheduled: { id: number; frame: boolean } | null; marks: StageMarks }>({ pending: [], last: 0, scheduled: null, marks: { starts: {}, ends: {}, active: null } });

  useEffect(() => {
    if (mode === null) return;
    const buffer = bufferRef.current;
    const p = pump.current;
    let disposed = false;

    const flush = () => {
      p.scheduled = null;
      if (disposed || p.pending.length === 0) return;
      const batch = p.pending;
      p.pending = [];
      let markers = false;
      for (const l of batch) {
        if (l.kind !== 'marker' || !l.stage || l.n <= buffer.last) continue;
        markers = true;
        if (l.status === 'begin') {
          if (l.ts) p.marks.starts[l.stage] = l.ts;
          p.marks.active = { stage: l.stage, phase: l.phase ?? 'plan' };
        } else {
          if (l.ts) p.marks.ends[l.stage] = l.ts;
          if (p.marks.active?.stage === l.stage) p.marks.active = null;
        }
      }
      if (buffer.append(batch) > 0) setVersion((v) => v + 1);
      if (markers) onMarkersRef.current?.({ starts: { ...p.marks.starts }, ends: { ...p.marks.ends }, active: p.marks.active });
    };
    const enqueue = (lines: readonly LogLine[]) => {
      for (const l of lines) {
        if (l.n <= p.last) continue; // a repeat around a resubscribe
        p.pending.push(l);
        p.last = l.n;
      }
      if (p.pending.length && p.scheduled === null) {
        // rAF does not run in a background tab; a timer keeps the buffer from growing unread.
        p.scheduled = document.hidden ? { id: window.setTimeout(flush, 250), frame: false } : { id: requestAnimationFrame(flush), frame: true };
      }
    };
    const cancelScheduled = () => {
      if (p.scheduled?.frame) cancelAnimationFrame(p.scheduled.id);
      else if (p.scheduled) clearTimeout(p.scheduled.id);
      p.scheduled = null;
    };
    const flushNow = () => {
      cancelScheduled();
      flush();
    };

    if (mode === 'history') {
      setHistorical(true);
      setStatus('loading');
      fetchHistory(taskId)
        .then((lines) => {
          if (disposed) return;
          enqueue(lines);
          flushNow();
          setStatus('completed');
        })
        .catch((err: Error) => {
          if (disposed) return;
          setError(err.message);
          setStatus('error');
        });
      return () => {
        disposed = true;
      };
    }

    // ---- live ----
    let ws: WebSocket | null = null;
    let completed = false;
    let attempt = 0;
    let reconnectTimer: number | undefined;
    let pollTimer: number | undefined;
    let finalSince: number | null = null;
    let closing = false;

    const complete = () => {
      if (completed) return;
      completed = true;
      flushNow();
      setStatus('completed');
      window.clearTimeout(reconnectTimer);
      window.clearTimeout(pollTimer);
      window.clearInterval(watch);
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'completed');
    };

    /** Catch up from the stored log (when the socket is down, or to close the gap at the end). */
    const catchUp = async () => {
      const lines = await fetchHistory(taskId);
      if (!disposed) enqueue(lines);
    };

    const pollWhileDown = () => {
      window.clearTimeout(pollTimer);
      pollTimer = window.setTimeout(async () => {
        if (disposed || completed) return;
        try {
          await catchUp();
          if (finalRef.current) return complete();
        } catch {
          /* the API is unreachable too: keep trying */
        }
        if (!ws || ws.readyState !== WebSocket.OPEN) pollWhileDown();
      }, 2000);
    };

    /**
     * Live lines come in line_num order; a line_num that skips ahead means lines were not sent
     * (the stored log has them): hold what came, fill the gap from the stored log, then go on.
     */
    let held: LogLine[] | null = null;
    const receive = (lines: LogLine[], tolerateGap = false) => {
      if (held) {
        held.push(...lines);
        return;
      }
      let last = p.last;
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i];
        if (l.n <= last) continue;
        if (l.n > last + 1 && !tolerateGap) {
          enqueue(lines.slice(0, i));
          held = lines.slice(i);
          void fill();
          return;
        }
        last = l.n;
      }
      enqueue(lines);
    };
    const fill = async () => {
      try {
        await catchUp();
      } catch {
        /* the stored log is unreachable: keep what came */
      }
      const rest = held ?? [];
      held = null;
      if (!disposed) receive(rest, true);
      if (pendingFinish !== null && !disposed) finish(pendingFinish);
    };
    /** `completed` names the run's last line: fetch what did not arrive before closing. */
    let pendingFinish: number | null = null;
    let finishing = false;
    const finish = (lastLine: number) => {
      finishing = true;
      if (held) {
        pendingFinish = lastLine;
        return;
      }
      pendingFinish = null;
      if (lastLine > p.last) {
        catchUp()
          .catch(() => undefined)
          .finally(() => !disposed && complete());
      } else complete();
    };

    const connect = async () => {
      if (disposed || completed) return;
      setStatus(attempt === 0 ? 'connecting' : 'reconnecting');
      let url: URL;
      try {
        url = new URL((await getMeta()).websocket_url, location.href);
      } catch {
        return scheduleReconnect();
      }
      if (disposed) return;
      url.searchParams.set('token', getToken() ?? '');
      const socket = new WebSocket(url.href);
      ws = socket;
      socket.onopen = () => socket.send(JSON.stringify({ action: 'subscribe', task_id: taskId, after_line: p.last }));
      socket.onmessage = (ev) => {
        let data: WireMessage | WireMessage[];
        try {
          data = JSON.parse(typeof ev.data === 'string' ? ev.data : '');
        } catch {
          return;
        }
        const lines: LogLine[] = [];
        for (const m of Array.isArray(data) ? data : [data]) {
          if (m.type === 'connected') {
            attempt = 0;
            setStatus('live');
            setError(null);
            window.clearTimeout(pollTimer);
          } else if (m.type === 'completed') {
            receive(lines.splice(0));
            finish(typeof m.last_line === 'number' ? m.last_line : 0);
            return;
          } else if (m.type === 'error' && typeof m.line_num !== 'number') {
            setError(m.message ?? m.line ?? 'the log stream reported an error'); // a protocol error, not a log line
          } else {
            const l = fromWire(m);
            if (l) lines.push(l);
          }
        }
        receive(lines);
      };
      socket.onclose = () => {
        if (ws === socket) ws = null;
        if (!disposed && !completed) scheduleReconnect();
      };
    };

    const scheduleReconnect = () => {
      if (disposed || completed || finishing) return;
      setStatus('reconnecting');
      attempt++;
      if (attempt === 1 || !pollTimer) pollWhileDown();
      const delay = Math.min(500 * 2 ** (attempt - 1), 5000);
      window.clearTimeout(reconnectTimer);
      reconnectTimer = window.setTimeout(connect, delay);
    };

    // The run ended but no `completed` came (the socket is down, say): close with the stored log.
    const watch = window.setInterval(async () => {
      if (completed || disposed || closing) return;
      if (!finalRef.current) {
        finalSince = null;
        return;
      }
      finalSince ??= Date.now();
      if (Date.now() - finalSince < 3000) return;
      closing = true;
      try {
        await catchUp();
        if (!disposed) complete();
      } catch {
        /* try again at the next tick */
      } finally {
        closing = false;
      }
    }, 1000);

    void connect();
    return () => {
      disposed = true;
      window.clearTimeout(reconnectTimer);
      window.clearTimeout(pollTimer);
      window.clearInterval(watch);
      if (ws) {
        ws.onclose = null;
        ws.close(1000, 'page closed');
      }
      cancelScheduled();
    };
  }, [mode, taskId]);

  return { buffer: bufferRef.current, version, status, historical, error };
}
