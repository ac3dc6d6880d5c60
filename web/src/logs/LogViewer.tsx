/**
 * The log viewer: fixed-height rows, of which only those in view (plus a margin) are in the DOM,
 * so 100 000 lines scroll as lightly as 100. Follows the end while the user is at the bottom; a
 * scroll up pauses it and shows "Jump to bottom". Search with next/previous, timestamps, download.
 */
import { memo, useCallback, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { downloadFile } from '../api';
import { Pill } from '../components/ui';
import { clockTime, stageLabel } from '../format';
import { renderLine } from './ansi';
import { lowerOf, type LogLine } from './model';
import type { RunLog } from './useRunLog';

export const ROW_HEIGHT = 20;
const OVERSCAN = 30;

const STATUS: Record<RunLog['status'], { label: string; tone: 'info' | 'success' | 'warning' | 'muted' | 'danger'; pulse?: boolean }> = {
  loading: { label: 'Loading…', tone: 'muted' },
  connecting: { label: 'Connecting…', tone: 'muted', pulse: true },
  live: { label: 'Live', tone: 'success', pulse: true },
  reconnecting: { label: 'Reconnecting…', tone: 'warning', pulse: true },
  completed: { label: 'Completed', tone: 'info' },
  error: { label: 'Unavailable', tone: 'danger' },
};

export function LogViewer({ log, taskId }: { log: RunLog; taskId: number }) {
  const { buffer, version, status } = log;
  const lines = buffer.lines;
  const count = lines.length;
  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const [view, setView] = useState({ top: 0, height: 480 });
  const followRef = useRef(true);
  const [follow, setFollowState] = useState(true);
  const [pausedAt, setPausedAt] = useState(0);
  const [showTimes, setShowTimes] = useState(false);
  const [query, setQuery] = useState('');
  const deferred = useDeferredValue(query.trim().toLowerCase());
  const [current, setCurrent] = useState(-1);
  const [downloadError, setDownloadError] = useState<string | null>(null);

  const setFollow = useCallback(
    (on: boolean) => {
      if (followRef.current === on) return;
      followRef.current = on;
      setFollowState(on);
      if (!on) setPausedAt(buffer.lines.length);
    },
    [buffer],
  );

  // Search: scan only what was added since the last scan for the same query.
  const scan = useRef({ q: '', scanned: 0, matches: [] as number[] });
  const matches = useMemo(() => {
    const s = scan.current;
    if (s.q !== deferred) scan.current = { q: deferred, scanned: 0, matches: [] };
    const t = scan.current;
    if (t.q) {
      for (let i = t.scanned; i < lines.length; i++) if (lowerOf(lines[i]).includes(t.q)) t.matches.push(i);
    }
    t.scanned = lines.length;
    return t.matches;
  }, [deferred, version, lines]);
  const matchCount = matches.length;
  const matchSet = useMemo(() => new Set(matches), [matches, matchCount]);

  const scrollToIndex = useCallback(
    (index: number) => {
      const el = scrollRef.current;
      if (!el) return;
      setFollow(false);
      el.scrollTop = Math.max(0, index * ROW_HEIGHT - el.clientHeight / 2 + ROW_HEIGHT / 2);
    },
    [setFollow],
  );

  const goTo = useCallback(
    (i: number) => {
      if (matches.length === 0) return;
      const n = ((i % matches.length) + matches.length) % matches.length;
      setCurrent(n);
      scrollToIndex(matches[n]);
    },
    [matches, scrollToIndex],
  );

  // A new query goes to its first match.
  useEffect(() => {
    if (!deferred) return setCurrent(-1);
    if (scan.current.matches.length > 0) {
      setCurrent(0);
      scrollToIndex(scan.current.matches[0]);
    } else setCurrent(-1);
  }, [deferred, scrollToIndex]);
  // Lines arriving after a query with no match yet: select the first one when it comes.
  useEffect(() => {
    if (deferred && current === -1 && matchCount > 0) setCurrent(0);
  }, [deferred, current, matchCount]);

  // Follow the end: after new lines render, stay at the bottom unless the user scrolled away.
  // A user's scroll-up can land between two batches before its scroll event fires; the position
  // left by the last follow tells it apart, so the batch does not snap the view back down.
  const followedTo = useRef<number | null>(null);
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el || !followRef.current) return;
    if (followedTo.current !== null && el.scrollTop < followedTo.current - ROW_HEIGHT / 2) {
      followedTo.current = null;
      setFollow(false);
      return;
    }
    el.scrollTop = el.scrollHeight;
    followedTo.current = el.scrollTop;
  }, [version, count, setFollow]);

  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      // A taller box lowers the furthest scroll position; keep following from there.
      if (followRef.current) {
        el.scrollTop = el.scrollHeight;
        followedTo.current = el.scrollTop;
      }
      setView({ top: el.scrollTop, height: el.clientHeight });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight <= ROW_HEIGHT / 2;
    followedTo.current = atBottom ? el.scrollTop : null;
    setFollow(atBottom);
    setView({ top: el.scrollTop, height: el.clientHeight });
  };

  const jumpToBottom = () => {
    const el = scrollRef.current;
    if (!el) return;
    followRef.current = true;
    setFollowState(true);
    el.scrollTop = el.scrollHeight;
    followedTo.current = el.scrollTop;
  };

  const onSearchKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      goTo(current + (e.shiftKey ? -1 : 1));
    } else if (e.key === 'Escape') setQuery('');
  };

  const onViewerKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'f') {
      e.preventDefault();
      searchRef.current?.focus();
      searchRef.current?.select();
    } else if (e.key === 'End' && e.target === scrollRef.current) {
      e.preventDefault();
      jumpToBottom();
    }
  };

  const download = async () => {
    setDownloadError(null);
    try {
      await downloadFile(`/tasks/${taskId}/logs/download?type=all`, `task-${taskId}-logs.txt`);
    } catch (err) {
      setDownloadError((err as Error).message);
    }
  };

  const start = Math.max(0, Math.floor(view.top / ROW_HEIGHT) - OVERSCAN);
  const end = Math.min(count, Math.ceil((view.top + view.height) / ROW_HEIGHT) + OVERSCAN);
  const currentLine = current >= 0 ? matches[current] : -1;
  const rows = [];
  for (let i = start; i < end; i++) {
    rows.push(<Row key={lines[i].n} line={lines[i]} query={matchSet.has(i) ? deferred : ''} current={i === currentLine} showTime={showTimes} />);
  }
  const st = STATUS[status];
  const newLines = !follow ? count - pausedAt : 0;

  return (
    <div className="log-viewer" data-testid="log-viewer" data-status={status} data-lines={count} onKeyDown={onViewerKey}>
      <div className="log-toolbar">
        <Pill tone={st.tone} pulse={st.pulse} testId="log-status">
          {st.label}
          {log.historical && status === 'completed' ? ' · history' : ''}
        </Pill>
        <span className="log-count" data-testid="log-count">
          {count.toLocaleString('en-US')} lines
        </span>
        <div className="log-search">
          <input
            ref={searchRef}
            type="search"
            placeholder="Search log"
            aria-label="Search log"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={onSearchKey}
            data-testid="log-search"
          />
          <span className="log-search-count" data-testid="log-search-count">
            {deferred ? (matchCount ? `${current + 1} / ${matchCount.toLocaleString('en-US')}` : 'No matches') : ''}
          </span>
          <button type="button" className="btn btn-dark btn-sm" onClick={() => goTo(current - 1)} disabled={!matchCount} aria-label="Previous match" title="Previous match (Shift+Enter)">
            ↑
          </button>
          <button type="button" className="btn btn-dark btn-sm" onClick={() => goTo(current + 1)} disabled={!matchCount} aria-label="Next match" title="Next match (Enter)">
            ↓
          </button>
        </div>
        <label className="log-toggle" title={log.historical ? 'The stored log keeps times only on stage markers' : undefined}>
          <input type="checkbox" checked={showTimes} onChange={(e) => setShowTimes(e.target.checked)} data-testid="log-timestamps" /> Timestamps
        </label>
        <button type="button" className="btn btn-dark btn-sm" onClick={download} data-testid="log-download">
          ⤓ Download
        </button>
      </div>
      {(log.error || downloadError) && <div className="log-error">{downloadError ?? log.error}</div>}
      <div className="log-scroll" ref={scrollRef} onScroll={onScroll} tabIndex={0} data-testid="log-scroll" aria-label="Run log">
        <div className="log-spacer" style={{ height: count * ROW_HEIGHT }}>
          <div className="log-rows" style={{ transform: `translateY(${start * ROW_HEIGHT}px)` }}>
            {rows}
          </div>
        </div>
        {count === 0 && <div className="log-empty">{status === 'loading' || status === 'connecting' ? 'Waiting for output…' : 'No output yet.'}</div>}
      </div>
      {!follow && count > 0 && (
        <button type="button" className="jump-bottom" onClick={jumpToBottom} data-testid="jump-to-bottom">
          ↓ Jump to bottom{newLines > 0 ? ` · ${newLines.toLocaleString('en-US')} new` : ''}
        </button>
      )}
    </div>
  );
}

const Row = memo(function Row({ line, query, current, showTime }: { line: LogLine; query: string; current: boolean; showTime: boolean }) {
  const cls = `log-line ${line.kind}${query ? ' match' : ''}${current ? ' current' : ''}`;
  const time = showTime && <span className="log-ts">{line.ts ? clockTime(line.ts) : ''}</span>;
  if (line.kind === 'marker') {
    return (
      <div className={cls} data-line={line.n} title={line.text}>
        <span className="log-ln">{line.n}</span>
        {time}
        <span className="stage-marker">
          <span className="stage-icon">{line.status === 'end' ? '✓' : '▶'}</span>
          <span className="stage-name">{line.stage ? stageLabel(line.stage) : ''}</span>
          <span className="stage-status">{line.status}</span>
          <span className="stage-time">{line.ts ? clockTime(line.ts) : ''}</span>
        </span>
      </div>
    );
  }
  return (
    <div className={cls} data-line={line.n}>
      <span className="log-ln">{line.n}</span>
      {time}
      <span className="log-tx">{renderLine(line.text, query)}</span>
    </div>
  );
});
