// The common problems as pictures, so that a report starts with one tap: line drawings
// in a 48-unit box, drawn inline (nothing to download, sharp at any size).

/** The common leaf categories, in the order shown, each with its drawing. */
export const COMMON = [
  { code: "C0101", short: "井盖", draw: "M8 30a16 7 0 1 0 32 0a16 7 0 1 0-32 0M14 30h20M17 27h14M17 33h14M24 8v10m-5-5 5 5 5-5" },
  { code: "C0301", short: "暴露垃圾", draw: "M12 16h24l-3 24H15zM9 16h30M19 16v-5h10v5M19 22v12M24 22v12M29 22v12" },
  { code: "C0201", short: "道路破损", draw: "M4 40 16 8h16l12 32M24 10v6m0 6v6m0 6v5M13 32l5-4 4 3 6-5 5 4" },
  { code: "C0106", short: "路灯不亮", draw: "M22 44V14c0-4 3-6 7-6h7M30 8v4h10V8M35 12v3M16 44h12M38 20l-3 3m-2-6-4 1m9 4 1 4" },
  { code: "T0101", short: "违章停车", draw: "M8 30l4-10h24l4 10v7H8zM12 37v4h5v-4M31 37v4h5v-4M14 30h4M30 30h4M6 10l36 28" },
  { code: "E0201", short: "消防通道", draw: "M24 6c7 8 10 13 10 20a10 10 0 0 1-20 0c0-5 2-8 5-11 0 5 2 7 4 8 0-6 0-11 1-17zM6 42h36" },
  { code: "E0203", short: "积水内涝", draw: "M4 30c4 3 8 3 12 0s8-3 12 0 8 3 12 0M4 38c4 3 8 3 12 0s8-3 12 0 8 3 12 0M24 6c5 7 7 11 7 14a7 7 0 0 1-14 0c0-3 2-7 7-14z" },
  { code: "G0101", short: "邻里纠纷", draw: "M10 14a5 5 0 1 0 10 0a5 5 0 1 0-10 0M28 14a5 5 0 1 0 10 0a5 5 0 1 0-10 0M6 40c0-9 4-14 9-14s9 5 9 14M24 40c0-9 4-14 9-14s9 5 9 14M21 8l3 4 3-4" },
];

/** A category's drawing as an inline SVG. */
export function Picture({ draw, size = 40 }) {
  return (
    <svg viewBox="0 0 48 48" width={size} height={size} aria-hidden="true" class="pic">
      <path d={draw} fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round" />
    </svg>
  );
}
