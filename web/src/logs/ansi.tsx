/** ANSI colour codes → React spans (never HTML strings), with search matches marked. */
import Anser from 'anser';
import type { CSSProperties, ReactNode } from 'react';

interface Segment {
  text: string;
  className: string;
  style?: CSSProperties;
}

const NAMED = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** xterm's 256-colour palette beyond the 16 named colours. */
function palette(n: number): string {
  if (n < 16) return '';
  if (n >= 232) {
    const g = 8 + (n - 232) * 10;
    return `rgb(${g},${g},${g})`;
  }
  const i = n - 16;
  const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
  return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
}

function colour(cls: string | null, truecolor: string | null, side: 'fg' | 'bg', classes: string[], style: CSSProperties) {
  if (!cls) return;
  const prop = side === 'fg' ? 'color' : 'backgroundColor';
  if (cls === 'ansi-truecolor' && truecolor) style[prop] = `rgb(${truecolor})`;
  else if (cls.startsWith('ansi-palette-')) {
    const n = Number(cls.slice('ansi-palette-'.length));
    if (n < 16) classes.push(`${side}-${n >= 8 ? 'bright-' : ''}${NAMED[n % 8]}`);
    else style[prop] = palette(n);
  } else classes.push(`${side}-${cls.slice('ansi-'.length)}`);
}

const cache = new Map<string, Segment[]>();

export function segments(text: string): Segment[] {
  if (!text.includes('\u001b')) return [{ text, className: '' }];
  const hit = cache.get(text);
  if (hit) return hit;
  const out: Segment[] = [];
  for (const e of Anser.ansiToJson(text, { use_classes: true, remove_empty: true })) {
    const classes: string[] = [];
    const style: CSSProperties = {};
    colour(e.fg, e.fg_truecolor, 'fg', classes, style);
    colour(e.bg, e.bg_truecolor, 'bg', classes, style);
    for (const d of e.decorations ?? []) classes.push(`ansi-${d}`);
    out.push({ text: e.content, className: classes.join(' '), style: Object.keys(style).length ? style : undefined });
  }
  if (cache.size > 5000) cache.clear();
  cache.set(text, out);
  return out;
}

/** The line's segments with every case-insensitive occurrence of `query` wrapped in <mark>. */
export function renderLine(text: string, query: string): ReactNode[] {
  const segs = segments(text);
  const plain = segs.map((s) => s.text).join('');
  const ranges: [number, number][] = [];
  if (query) {
    const hay = plain.toLowerCase();
    for (let i = hay.indexOf(query); i !== -1; i = hay.indexOf(query, i + query.length)) ranges.push([i, i + query.length]);
  }
  const out: ReactNode[] = [];
  let pos = 0;
  let r = 0;
  segs.forEach((s, si) => {
    const start = pos;
    const end = pos + s.text.length;
    pos = end;
    const parts: ReactNode[] = [];
    let at = start;
    while (r < ranges.length && ranges[r][0] < end) {
      const [a, b] = ranges[r];
      if (a > at) parts.push(s.text.slice(at - start, a - start));
      const from = Math.max(a, at);
      const to = Math.min(b, end);
      parts.push(<mark key={`${si}-${from}`}>{s.text.slice(from - start, to - start)}</mark>);
      at = to;
      if (b <= end) r++;
      else break;
    }
    if (at < end) parts.push(s.text.slice(at - start));
    out.push(
      s.className || s.style ? (
        <span key={si} className={s.className} style={s.style}>
          {parts}
        </span>
      ) : (
        parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : <span key={si}>{parts}</span>
      ),
    );
  });
  return out;
}
