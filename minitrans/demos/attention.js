// Attention, head by head: DATA.tokens, DATA.layers[layer][head][query][key], DATA.masks[i].layers
const root = document.getElementById('demo');
const TOKENS = DATA.tokens;
const SHOWN = 0.02;  // weights below this are not drawn

// one head: queries on the left, keys on the right, a line per weight above SHOWN
function drawHead(grid, weights, head) {
  const box = el('div', {class: 'head', 'data-head': head}, grid);
  el('div', {class: 'caption'}, box, `head ${head + 1}`);
  const rowHeight = 18, width = 320, left = 118, right = 202, top = 14;
  const svg = el('svg', {viewBox: `0 0 ${width} ${2 * top + rowHeight * TOKENS.length}`}, box);
  const y = i => top + rowHeight * i + rowHeight / 2;
  const colour = HEAD_COLOURS[head % HEAD_COLOURS.length];
  weights.forEach((row, q) => row.forEach((w, k) => {
    if (w < SHOWN) return;
    el('line', {class: 'attn', x1: left + 4, y1: y(q), x2: right - 4, y2: y(k), stroke: colour,
                'stroke-opacity': Math.min(1, w * 1.3).toFixed(3), 'stroke-width': 2.2, 'data-q': q, 'data-k': k}, svg);
  }));
  TOKENS.forEach((token, i) => {
    el('text', {class: 'query', x: left, y: y(i) + 4, 'text-anchor': 'end', 'font-size': 12, 'data-i': i}, svg, token);
    el('text', {class: 'key', x: right, y: y(i) + 4, 'font-size': 12, 'data-i': i}, svg, token);
  });
  box.addEventListener('click', event => { if (event.target.tagName !== 'text') box.classList.toggle('big'); });
}

// hovering a token keeps its lines only, in every head of the grid
function focusOn(grid, side, index) {
  grid.querySelectorAll('line.attn').forEach(line => {
    const keep = index === null || Number(line.dataset[side === 'query' ? 'q' : 'k']) === index;
    line.style.display = keep ? '' : 'none';
  });
  grid.querySelectorAll('text').forEach(t => {
    t.classList.toggle('focus', index !== null && t.classList.contains(side) && Number(t.dataset.i) === index);
  });
}

function drawLayer(grid, heads) {
  grid.replaceChildren();
  heads.forEach((weights, head) => drawHead(grid, weights, head));
}

// a section: layer buttons, then the grid of that layer's heads
function headsView(parent, layers) {
  const grid = el('div', {class: 'heads'});
  buttonRow(parent, 'Layer', layers.map((_, i) => String(i + 1)), i => drawLayer(grid, layers[i]));
  parent.appendChild(grid);
  grid.addEventListener('mouseover', event => {
    const t = event.target;
    if (t.tagName === 'text') focusOn(grid, t.classList.contains('query') ? 'query' : 'key', Number(t.dataset.i));
  });
  grid.addEventListener('mouseout', event => { if (event.target.tagName === 'text') focusOn(grid, null, null); });
  return grid;
}

// the mask as a grid of squares: row = the token reading, column = the token it may see
function drawMask(parent, visible) {
  const cell = 11, n = visible.length;
  const box = el('div', {class: 'grid-mask'}, parent);
  const svg = el('svg', {width: cell * n + 2, height: cell * n + 2, class: 'mask-grid'}, box);
  visible.forEach((row, q) => row.forEach((v, k) => el('rect', {x: 1 + k * cell, y: 1 + q * cell, width: cell - 1,
    height: cell - 1, fill: v ? '#1f5fbf' : '#e4e7ec'}, svg)));
  return box;
}

const sentence = el('section', {id: 'sentence-view'}, root);
el('h2', {}, sentence, 'Your sentence, as the model reads it');
el('div', {}, sentence).append(...TOKENS.map((t, i) => el('span', {class: 'token',
  style: DATA.segments[i] ? 'background:#fde7c8' : ''}, null, t)));
headsView(sentence, DATA.layers);

const masks = el('section', {id: 'mask-view'}, root);
el('h2', {}, masks, "T5's three mask patterns, on the same model");
el('p', {class: 'note'}, masks, 'A blue square: the token of that row may attend to the token of that column. ' +
   'Fully visible: everything (an encoder, BERT). Causal: only itself and what comes before (a decoder, GPT). ' +
   'Causal with prefix: the prefix fully visible, the rest causal (a prefix language model). The model was ' +
   'trained fully visible; here its weights are renormalised over what each mask lets a token see.');
const maskBody = el('div');
buttonRow(masks, 'Mask', DATA.masks.map(m => m.name), i => {
  maskBody.replaceChildren();
  drawMask(maskBody, DATA.masks[i].visible);
  headsView(maskBody, DATA.masks[i].layers);
});
masks.appendChild(maskBody);
