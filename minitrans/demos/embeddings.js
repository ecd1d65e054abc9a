// One vector per word or per context: DATA.models[name] = {points: [[x, y]], cosines}, DATA.sentences, DATA.senses
const root = document.getElementById('demo');
const SENSES = [...new Set(DATA.senses)];
const SENSE_COLOURS = ['#1f5fbf', '#d62728', '#2ca02c', '#9467bd'];
const colour = i => SENSE_COLOURS[SENSES.indexOf(DATA.senses[i]) % SENSE_COLOURS.length];
const panels = el('div', {class: 'panels'}, root);
const list = el('ol', {id: 'sentences'});

// focus sentence i: its points outlined, and beside every sentence the cosine of its vector with i's
function focus(i) {
  document.querySelectorAll('.point').forEach(p => p.classList.toggle('focus', Number(p.dataset.i) === i));
  list.querySelectorAll('li').forEach((li, j) => {
    li.classList.toggle('focus', j === i);
    li.querySelector('.cosine').textContent = i < 0 ? '' : '   cosine with the highlighted one: ' +
      Object.entries(DATA.models).map(([name, m]) => `${name} ${m.cosines[i][j].toFixed(3)}`).join(', ');
  });
}

for (const [name, model] of Object.entries(DATA.models)) {
  const box = el('div', {class: 'panel', id: `panel-${name}`}, panels);
  el('h2', {}, box, name);
  const S = 380, pad = 30;
  const svg = el('svg', {width: S, height: S}, box);
  const xs = model.points.map(p => p[0]), ys = model.points.map(p => p[1]);
  const span = Math.max(1e-6, ...xs.map(Math.abs), ...ys.map(Math.abs));
  const at = v => S / 2 + (S / 2 - pad) * v / span;
  el('line', {x1: pad / 2, x2: S - pad / 2, y1: S / 2, y2: S / 2, stroke: '#eceff3'}, svg);
  el('line', {y1: pad / 2, y2: S - pad / 2, x1: S / 2, x2: S / 2, stroke: '#eceff3'}, svg);
  const distinct = new Set(model.points.map(p => p.join(','))).size;
  model.points.forEach(([x, y], i) => {
    const dot = el('circle', {class: 'point', cx: at(x), cy: at(-y), r: 8, fill: colour(i), 'fill-opacity': 0.75,
                              'data-i': i}, svg);
    el('title', {}, dot, DATA.sentences[i]);
    dot.addEventListener('mouseenter', () => focus(i));
    dot.addEventListener('mouseleave', () => focus(-1));
  });
  const off = [];
  model.cosines.forEach((row, i) => row.forEach((c, j) => { if (j > i) off.push(c); }));
  const least = Math.min(...off);
  el('p', {class: 'note distinct', 'data-distinct': distinct}, box,
     distinct === 1 ? `${model.points.length} sentences, one point: the vectors are identical (cosine ${least.toFixed(3)}).`
                    : `${distinct} points for ${model.points.length} sentences; the lowest cosine between two is ${least.toFixed(3)}.`);
}

const legend = el('div', {class: 'controls'}, root);
SENSES.forEach((sense, k) => { const item = el('span', {}, legend);
  el('span', {class: 'swatch', style: `background:${SENSE_COLOURS[k % SENSE_COLOURS.length]}`}, item);
  item.append(sense); });
root.appendChild(list);
DATA.sentences.forEach((s, i) => {
  const li = el('li', {}, list);
  el('span', {class: 'swatch', style: `background:${colour(i)}`}, li);
  s.split(' ').forEach(w => { if (w.toLowerCase() === DATA.word) el('b', {}, li, w + ' '); else li.append(w + ' '); });
  el('span', {class: 'cosine note'}, li);
  li.addEventListener('mouseenter', () => focus(i));
  li.addEventListener('mouseleave', () => focus(-1));
});
