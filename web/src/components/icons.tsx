/** A few inline icons (SVG: emoji and rare glyphs are missing from many systems' fonts). */
const base = { width: 13, height: 13, viewBox: '0 0 16 16', fill: 'none', stroke: 'currentColor', strokeWidth: 1.7, strokeLinecap: 'round' as const, strokeLinejoin: 'round' as const, 'aria-hidden': true, className: 'icon' };

export const LockIcon = () => (
  <svg {...base}>
    <rect x="3" y="7" width="10" height="7" rx="1.5" />
    <path d="M5.5 7V5a2.5 2.5 0 0 1 5 0v2" />
  </svg>
);

export const KeyIcon = () => (
  <svg {...base}>
    <circle cx="5" cy="10.5" r="2.5" />
    <path d="M6.8 8.7L13 2.5M11 4.5l1.5 1.5M9.5 6l1.2 1.2" />
  </svg>
);

export type GlyphName = 'check' | 'cross' | 'pause' | 'spinner' | 'stop' | 'dash' | 'alert' | 'clock' | 'dot';

/** Status glyphs for stage indicators and run-task results. */
export function Glyph({ name, size = 14 }: { name: GlyphName; size?: number }) {
  const p = { ...base, width: size, height: size, strokeWidth: 2.2, className: `glyph glyph-${name}` };
  switch (name) {
    case 'check':
      return <svg {...p}><path d="M3.5 8.5l3 3 6-7" /></svg>;
    case 'cross':
      return <svg {...p}><path d="M4.5 4.5l7 7M11.5 4.5l-7 7" /></svg>;
    case 'pause':
      return <svg {...p}><path d="M6 4.5v7M10 4.5v7" /></svg>;
    case 'spinner':
      return <svg {...p}><path d="M8 2.5a5.5 5.5 0 1 1-5.5 5.5" /></svg>;
    case 'stop':
      return <svg {...p}><rect x="5" y="5" width="6" height="6" fill="currentColor" stroke="none" /></svg>;
    case 'dash':
      return <svg {...p}><path d="M5 8h6" /></svg>;
    case 'alert':
      return <svg {...p}><path d="M8 3.5v6M8 12.5v.01" /></svg>;
    case 'clock':
      return <svg {...p}><circle cx="8" cy="8" r="5" /><path d="M8 5.5V8l1.8 1.2" /></svg>;
    case 'dot':
      return <svg {...p}><circle cx="8" cy="8" r="2.5" fill="currentColor" stroke="none" /></svg>;
  }
}
