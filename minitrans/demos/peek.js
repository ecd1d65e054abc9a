// Why not bi-directional? DATA.curves[name] = losses per step, DATA.perplexities, DATA.samples, DATA.masks
const root = document.getElementById('demo');
const NAMES = Object.keys(DATA.curves);
const COLOURS = {[NAMES[0]]: '#1f5fbf', [NAMES[1]]: '#d62728'};
const hidden = new Set();

// the two masks, side by side
const masksRow = el('div', {class: 'masks-row'}, el('section', {id: 'masks'}, root));
NAMES.forEach(name => {
  const box = el('div', {}, masksRow);
  el('h2', {}, box, name);
  const cell = 18, svg = el('svg', {width: 6 * cell + 2, height: 6 * cell + 2, class: 'mask-grid'}, box);
  DATA.masks[name].forEach((row, q) => row.forEach((v, k) => el('rect', {x: 1 + k * cell, y: 1 + q * cell,
    width: cell - 2, height: cell - 2, fill: v ? COLOURS[name] : '#e4e7ec'}, svg)));
  el('p', {class: 'note'}, box, name === NAMES[0] ? 'word i sees words 1..i' : 'word i sees every word');
});

// the training curves, with a readout under the mouse
const chartSection = el('section', {id: 'curves'}, root);
el('h2', {}, chartSection, 'Training loss, step by step (next-word cross entropy)');
const W = 760, H = 330, pad = {left: 52, right: 16, top: 14, bottom: 36};
const svg = el('svg', {id: 'chart', width: W, height: H}, chartSection);
const steps = DATA.curves[NAMES[0]].length;
const highest = Math.max(...NAMES.map(n => Math.max(...DATA.curves[n])));
const x = s => pad.left + (W - pad.left - pad.right) * s / (steps - 1);
const y = v => pad.top + (H - pad.top - pad.bottom) * (1 - v / highest);
for (let v = 0; v <= highest; v += Math.max(1, Math.round(highest / 5))) {
  el('line', {x1: pad.left, x2: W - pad.right, y1: y(v), y2: y(v), stroke: '#eceff3'}, svg);
  el('text', {x: pad.left - 8, y: y(v) + 4, 'text-anchor': 'end'}, svg, String(v));
}
el('text', {x: (W + pad.left) / 2, y: H - 8, 'text-anchor': 'middle'}, svg, 'training step');
const paths = {};
NAMES.forEach(name => {
  const points = DATA.curves[name].map((v, s) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  paths[name] = el('polyline', {points, fill: 'none', stroke: COLOURS[name], 'stroke-width': 2.2, class: 'curve',
                                'data-name': name}, svg);
});
const cursor = el('line', {y1: pad.top, y2: H - pad.bottom, stroke: '#888', 'stroke-dasharray': '3 3', visibility: 'hidden'}, svg);
const readout = el('div', {id: 'readout'}, chartSection, 'Move the mouse over the chart.');
svg.addEventListener('mousemove', event => {
  const box = svg.getBoundingClientRect();
  const s = Math.round((event.clientX - box.left - pad.left) / (W - pad.left - pad.right) * (steps - 1));
  if (s < 0 || s >= steps) return;
  cursor.setAttribute('x1', x(s)); cursor.setAttribute('x2', x(s)); cursor.setAttribute('visibility', 'visible');
  readout.textContent = `step ${s + 1}: ` + NAMES.filter(n => !hidden.has(n))
    .map(n => `${n} ${DATA.curves[n][s].toFixed(3)}`).join('   ');
});
const legend = el('div', {class: 'controls'}, chartSection);
NAMES.forEach(name => {
  const item = el('button', {type: 'button', class: 'legend-item', style: `border-color:${COLOURS[name]}; color:${COLOURS[name]}`,
                             'data-name': name}, legend, `${name} (click to hide)`);
  item.addEventListener('click', () => {
    hidden.has(name) ? hidden.delete(name) : hidden.add(name);
    item.classList.toggle('off', hidden.has(name));
    paths[name].style.display = hidden.has(name) ? 'none' : '';
  });
});

// held-out perplexity and samples
const results = el('section', {id: 'results'}, root);
el('h2', {}, results, 'Then hide the future, as generation must');
const table = el('table', {class: 'figures'}, results);
const head = el('tr', {}, table);
['model', 'final training loss (last 10 steps)', 'held-out perplexity, next word hidden'].forEach(t => el('th', {}, head, t));
NAMES.forEach(name => {
  const row = el('tr', {}, table);
  const last = DATA.curves[name].slice(-10);
  el('td', {style: `color:${COLOURS[name]}`}, row, name);
  el('td', {}, row, (last.reduce((a, b) => a + b, 0) / last.length).toFixed(3));
  el('td', {}, row, DATA.perplexities[name].toLocaleString('en'));
});
el('h2', {}, results, 'Samples (temperature 0.8, top-k 20)');
const samples = el('div', {class: 'panels'}, results);
let shown = 0;
const perModel = DATA.samples[NAMES[0]].length;
function showSamples() {
  samples.replaceChildren();
  NAMES.forEach(name => {
    const box = el('div', {style: 'max-width: 560px'}, samples);
    el('h3', {style: `color:${COLOURS[name]}`}, box, name);
    for (let i = 0; i < 4; i++) {
      const s = DATA.samples[name][(shown + i) % perModel];
      const line = el('div', {class: 'sample'}, box);
      el('span', {class: 'prompt'}, line, s.prompt + ' ');
      el('span', {}, line, s.text);
    }
  });
}
const more = el('button', {type: 'button', id: 'more-samples'}, results, 'Other samples');
more.addEventListener('click', () => { shown = (shown + 4) % perModel; showSamples(); });
showSamples();
