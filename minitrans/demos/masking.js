// BERT's masking: DATA.tokens, DATA.draws[d] = [{position, outcome, shown, predictions: [[token, p]]}]
const root = document.getElementById('demo');
const NAMES = {mask: '[MASK]', random: 'random', kept: 'kept'};
let current = -1;
const tally = {mask: 0, random: 0, kept: 0, draws: 0};

const controls = el('div', {class: 'controls'}, root);
const again = el('button', {type: 'button', id: 'draw-again'}, controls, 'Draw again');
const counter = el('span', {id: 'draw-number', class: 'note'}, controls);
const original = el('div', {class: 'row'}, root);
el('span', {class: 'label'}, original, 'sentence');
const originalTokens = el('div', {}, original);
DATA.tokens.forEach(t => el('span', {class: 'token'}, originalTokens, t));
const input = el('div', {class: 'row', id: 'model-input'}, root);
el('span', {class: 'label'}, input, 'model input');
const slots = el('div', {style: 'display:flex; flex-wrap:wrap'}, input);
const tallyBox = el('div', {id: 'tally'}, root);

function show(d) {
  const chosen = new Map(DATA.draws[d].map(c => [c.position, c]));
  slots.replaceChildren();
  originalTokens.querySelectorAll('.token').forEach((t, i) => t.classList.toggle('chosen', chosen.has(i)));
  DATA.tokens.forEach((token, i) => {
    const slot = el('div', {class: 'slot'}, slots);
    const c = chosen.get(i);
    if (!c) { el('span', {class: 'token'}, slot, token); return; }
    el('span', {class: `token chosen ${c.outcome}`, title: `chosen: ${NAMES[c.outcome]}`}, slot, c.shown);
    const list = el('div', {class: 'predictions'}, slot);
    c.predictions.forEach(([word, p]) => {
      const line = el('div', {class: 'prediction' + (word === token ? ' right' : '')}, list);
      el('span', {class: 'bar', style: `width:${Math.max(2, Math.round(60 * p))}px`}, line);
      el('span', {}, line, `${word} ${(100 * p).toFixed(0)}%`);
    });
  });
  DATA.draws[d].forEach(c => tally[c.outcome]++);
  tally.draws++;
  const total = tally.mask + tally.random + tally.kept;
  const pct = n => (100 * n / total).toFixed(0) + '%';
  tallyBox.textContent = `After ${tally.draws} draw(s): ${total} tokens chosen, ${pct(tally.mask)} [MASK], ` +
    `${pct(tally.random)} random, ${pct(tally.kept)} kept (in the long run: 80%, 10%, 10%).`;
  counter.textContent = `draw ${d + 1} of ${DATA.draws.length}`;
}

again.addEventListener('click', () => { current = (current + 1) % DATA.draws.length; show(current); });
current = 0;
show(0);
