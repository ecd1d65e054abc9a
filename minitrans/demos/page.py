"""One self-contained HTML page per demo: the data as JSON, the script and the style inline, so
the file opens anywhere (a classroom projector, no network) and shows the same thing every time.

Each demo's drawing code is a plain JavaScript file beside its Python file (`attention.js`
beside `attention.py`); `COMMON_JS` holds the few helpers they share.
"""

import html
import json
from pathlib import Path

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px 32px; color: #1d1d1f;
       background: #ffffff; max-width: 1500px; }
h1 { font-size: 26px; margin: 0 0 6px 0; }
h2 { font-size: 19px; margin: 22px 0 6px 0; }
p.intro, p.note { max-width: 980px; line-height: 1.45; margin: 6px 0; }
p.note { color: #555; font-size: 14px; }
.controls { margin: 12px 0; display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.controls .label { font-weight: 600; margin-right: 4px; }
button { font: inherit; font-size: 15px; padding: 5px 12px; border: 1px solid #9aa4b2; border-radius: 6px;
         background: #f4f6f9; cursor: pointer; }
button.on { background: #1f5fbf; color: #fff; border-color: #1f5fbf; }
.token { display: inline-block; padding: 3px 6px; margin: 2px; border-radius: 4px; background: #eef1f5;
         font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 15px; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
table.figures { border-collapse: collapse; margin: 8px 0; }
table.figures td, table.figures th { border: 1px solid #d0d5dd; padding: 4px 10px; text-align: left; }
footer { margin-top: 28px; color: #777; font-size: 13px; }
"""

COMMON_JS = r"""
const DATA = JSON.parse(document.getElementById('demo-data').textContent);
const SVG_NS = 'http://www.w3.org/2000/svg';
// an element (HTML or SVG) with attributes and optional text, appended to parent
function el(tag, attrs = {}, parent = null, text = null) {
  const svgTags = ['svg', 'line', 'text', 'rect', 'circle', 'path', 'g', 'polyline', 'title'];
  const node = svgTags.includes(tag) ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}
// a row of toggle buttons; onPick(index) is called on click and once for `start`
function buttonRow(parent, label, names, onPick, start = 0) {
  const row = el('div', {class: 'controls'}, parent);
  el('span', {class: 'label'}, row, label);
  const buttons = names.map((name, i) => {
    const b = el('button', {type: 'button', 'data-index': i}, row, name);
    b.addEventListener('click', () => { buttons.forEach(o => o.classList.remove('on')); b.classList.add('on'); onPick(i); });
    return b;
  });
  buttons[start].classList.add('on');
  onPick(start);
  return buttons;
}
const HEAD_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2',
                      '#7f7f7f', '#bcbd22', '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173', '#3182bd'];
"""


FOOTER = "Written by <span class='mono'>minitrans demo</span>; everything on this page was computed when it was written."


def html_page(title: str, intro: str, data: dict, script: str, style: str = "", footer: str = "") -> str:
    """The page: `intro` (HTML) under the title, `data` embedded as JSON (read by the script as
    DATA), the demo's `script` after the shared helpers."""
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # cannot close the <script>
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}{style}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="intro">{intro}</p>
<div id="demo"></div>
<footer>{footer or FOOTER}</footer>
<script id="demo-data" type="application/json">{payload}</script>
<script>
{COMMON_JS}
{script}
</script>
</body>
</html>
"""


def checkpoint_name(folder) -> str:
    """How a page names a checkpoint folder: all-MiniLM-L6-v2 for the installed package's, else
    the folder's path."""
    from minitrans.checkpoints import minilm_folder

    return "all-MiniLM-L6-v2" if Path(folder) == minilm_folder() else str(folder)


def script(name: str) -> str:
    """The JavaScript file of a demo, beside this one."""
    return (Path(__file__).parent / f"{name}.js").read_text()
