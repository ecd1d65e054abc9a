// Span corruption: DATA.texts[t] = {text, pieces, ids, draws: [{hidden, inputs, targets}], slide}
const root = document.getElementById('demo');
const SPAN_COLOURS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const colourOf = span => SPAN_COLOURS[span % SPAN_COLOURS.length];

function piece(parent, text, span, kind, title) {
  const p = el('span', {class: `piece ${kind}`, title: title, 'data-span': span}, parent, text);
  if (kind === 'sentinel') p.style.background = colourOf(span);
  else if (span >= 0) p.style.boxShadow = `inset 0 -4px 0 ${colourOf(span)}`;
  return p;
}

function drawText(block, item) {
  el('h2', {}, block, item.slide ? 'The paper\'s example' : 'Your text');
  const controls = el('div', {class: 'controls'}, block);
  const again = el('button', {type: 'button', class: 'draw-again'}, controls, 'Draw again');
  const caption = el('span', {class: 'note'}, controls);
  const original = el('div', {class: 'original'}, block);
  const sidesBox = el('div', {class: 'sides'}, block);
  let current = 0;
  function show(d) {
    const draw = item.draws[d];
    caption.textContent = item.slide && d === 0 ? 'the spans of the paper\'s figure' :
      `random draw ${item.slide ? d : d + 1} of ${item.draws.length - (item.slide ? 1 : 0)}`;
    original.replaceChildren();
    el('h3', {}, original, 'text');
    item.pieces.forEach((p, i) => piece(original, p, draw.hidden[i], 'piece', `id ${item.ids[i]}`));
    sidesBox.replaceChildren();
    for (const [name, side] of [['input', draw.inputs], ['target', draw.targets]]) {
      const box = el('div', {class: `side ${name}`}, sidesBox);
      el('h3', {}, box, name);
      side.forEach(([text, span, kind]) => {
        const paper = kind === 'sentinel' && span < DATA.paper_names.length ? `, the paper's ${DATA.paper_names[span]}` : '';
        const title = kind === 'sentinel' ? `id ${DATA.vocab_size - 1 - span}${paper}` : kind === 'eos' ? 'id 1, end of sequence' : '';
        piece(box, text, span, kind, title);
      });
    }
  }
  // hovering a span's sentinel or piece dims everything else
  block.addEventListener('mouseover', event => {
    const span = event.target.dataset.span;
    if (span === undefined || Number(span) < 0) return;
    block.querySelectorAll('.piece').forEach(p => p.classList.toggle('dim', p.dataset.span !== span));
  });
  block.addEventListener('mouseout', () => block.querySelectorAll('.piece').forEach(p => p.classList.remove('dim')));
  again.addEventListener('click', () => { current = (current + 1) % item.draws.length; show(current); });
  show(0);
}

DATA.texts.forEach((item, i) => drawText(el('section', {class: 'text-block', id: `text-${i}`}, root), item));
