/**
 * The try-it page's stylesheet: system fonts, text contrast of at least 7:1 on its background,
 * and a focus ring on everything that takes focus.
 */
export const demoPageStyle = `:root {
  color-scheme: light;
  --text: #1b1f24;
  --muted: #3f4650;
  --accent: #0b5cad;
  --border: #6b7380;
  --bad: #9b1c1c;
  --bad-bg: #fdecec;
  --ok: #145c2e;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  line-height: 1.5;
  color: var(--text);
  background: #f6f7f9;
}
body { margin: 0; }
main {
  max-width: 44rem;
  margin: 2rem auto;
  padding: 1.5rem 2rem;
  background: #fff;
  border: 1px solid #d5d9df;
  border-radius: 8px;
}
h1 { font-size: 1.6rem; margin: 0 0 0.5rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 0.5rem; }
p { margin: 0.4rem 0; }
.hint { color: var(--muted); font-size: 0.95rem; }
.field { margin: 1rem 0; }
.field > label { display: block; font-weight: 600; margin-bottom: 0.25rem; }
.checkbox { display: flex; gap: 0.5rem; align-items: center; }
.checkbox > label { font-weight: normal; margin: 0; }
select, input[type="file"] { font: inherit; color: var(--text); }
select { padding: 0.3rem 0.5rem; border: 1px solid var(--border); border-radius: 4px; background: #fff; }
.drop-zone {
  margin: 1rem 0;
  padding: 1.25rem;
  border: 2px dashed var(--border);
  border-radius: 8px;
  background: #fafbfc;
}
.drop-zone.dragging { border-color: var(--accent); background: #eaf2fb; }
.drop-label { display: block; font-weight: 600; margin-bottom: 0.5rem; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
progress { width: 100%; height: 1rem; }
#status { font-weight: 600; }
#status.done { color: var(--ok); }
.refusal {
  margin-top: 0.75rem;
  padding: 0.75rem 1rem;
  border-left: 4px solid var(--bad);
  background: var(--bad-bg);
  color: var(--bad);
}
.refusal-title { font-weight: 700; }
.refusal .hint { color: var(--bad); }
a { color: var(--accent); overflow-wrap: anywhere; }
figure { margin: 0.75rem 0 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #d5d9df; }
figcaption { color: var(--muted); font-size: 0.95rem; margin-top: 0.25rem; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em; overflow-wrap: anywhere; }
footer { margin-top: 2rem; border-top: 1px solid #d5d9df; padding-top: 0.75rem; color: var(--muted); font-size: 0.95rem; }
.variant-list { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.variant-list figure { margin: 0; max-width: 17rem; }
.variant-list img { max-width: min(100%, 640px); }
[hidden] { display: none !important; }
`;
