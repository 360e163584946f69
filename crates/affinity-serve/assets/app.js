// The affinity explorer: one page over the served bundle's JSON routes (/v1/explore/... and
// /v1/recommend). Every piece of product text reaches the page as a text node, never as markup:
// the DOM is built with `el`, and chart tooltips go through `escapeHtml`.
'use strict';

(() => {
  const main = document.getElementById('main');
  // Read by the browser tests and the timing script (docs/explorer.md).
  const timings = (window.affinityTimings = { firstRender: null, filters: [] });
  const charts = [];
  let basket = [];
  let overviewCache = null;

  // ---- building blocks -------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({
      '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    })[c]);
  }

  function num(x, digits = 3) {
    if (x === null || x === undefined) return '∞';
    if (typeof x !== 'number') return String(x);
    if (Number.isInteger(x)) return x.toLocaleString('en');
    return x.toFixed(digits);
  }

  function pct(x) {
    return `${(100 * x).toFixed(1)} %`;
  }

  async function api(path, options) {
    const response = await fetch(path, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  }

  function productHref(name) {
    return `#/product/${encodeURIComponent(name)}`;
  }

  // A product as a link (its text; its name beside it where the two differ).
  function productLink(item) {
    const text = item.text && item.text !== item.item ? item.text : null;
    return el('span', {},
      el('a', { href: productHref(item.item) }, text || item.item),
      text ? el('span', { class: 'item-text' }, ` (${item.item})`) : null);
  }

  function table(headers, rows, caption) {
    return el('table', {},
      caption ? el('caption', { class: 'note' }, caption) : null,
      el('thead', {}, el('tr', {}, headers.map((h) =>
        el('th', { scope: 'col', class: h.num ? 'num' : null }, h.label || h)))),
      el('tbody', {}, rows));
  }

  function cell(value, numeric) {
    return el('td', { class: numeric ? 'num' : null }, value);
  }

  function disposeCharts() {
    while (charts.length) charts.pop().dispose();
  }

  function chart(container) {
    const c = window.echarts.init(container, null, { renderer: 'canvas' });
    charts.push(c);
    return c;
  }

  window.addEventListener('resize', () => charts.forEach((c) => c.resize()));

  function show(title, ...content) {
    disposeCharts();
    main.replaceChildren(el('h2', { tabindex: '-1' }, title), ...content.filter((c) => c));
    document.title = `${title} · affinity explorer`;
  }

  function ready() {
    main.dataset.state = 'ready';
    if (timings.firstRender === null) timings.firstRender = performance.now();
  }

  function failed(error) {
    main.append(el('p', { class: 'error', role: 'alert' }, error.message));
    ready();
  }

  function setNav(view) {
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  async function overview() {
    if (!overviewCache) overviewCache = await api('/v1/explore/overview');
    return overviewCache;
  }

  // ---- overview --------------------------------------------------------------------------

  async function showOverview() {
    setNav('overview');
    const o = await overview();
    const c = o.counts;
    const figure = (label, value) => el('div', {}, el('dt', {}, label), el('dd', {}, value));
    const figures = el('dl', { class: 'figures' },
      figure('Shoppers', num(c.shoppers)),
      figure('Products', num(c.products)),
      figure('Baskets', num(c.baskets)),
      figure('Events', num(c.events)),
      figure('Rules', num(c.rules)),
      figure('First day', o.dates ? o.dates.first : '–'),
      figure('Last day', o.dates ? o.dates.last : '–'));
    const weights = Object.entries(o.ranking.weights).map(([source, w]) =>
      el('tr', {}, cell(source), cell(num(w, 2), true)));
    const ranking = el('div', { class: 'panel' },
      el('dl', {},
        el('dt', {}, 'Mode'), el('dd', {}, o.ranking.mode),
        el('dt', {}, 'MMR lambda'), el('dd', {}, num(o.ranking.mmr_lambda, 2)),
        el('dt', {}, 'Language model'), el('dd', {}, o.model.language_model ? 'yes' : 'no'),
        el('dt', {}, 'Sequential tower'), el('dd', {}, o.model.sequential ? 'yes' : 'no'),
        el('dt', {}, 'How it was chosen'),
        el('dd', {}, o.tuning
          ? `tuned on ${num(o.tuning.users)} validation shoppers: NDCG@${o.tuning.k} ${num(o.tuning.validation_ndcg, 4)}`
          : 'set by hand (not tuned)'),
        o.fine_tuning.length ? [el('dt', {}, 'Continual fine-tuning'),
          el('dd', {}, `${o.fine_tuning.length} run(s) after updates`)] : null),
      table([{ label: 'Score source' }, { label: 'Weight', num: true }], weights));
    const popular = o.popular.map((p) => el('tr', {},
      cell(p.rank, true), el('td', {}, productLink(p)), cell(num(p.events), true),
      cell(num(p.shoppers), true)));
    const span = (name) => (o.rules[name] ? `${num(o.rules[name][0])} – ${num(o.rules[name][1])}` : '–');
    show('Overview',
      el('p', { class: 'note' }, `Bundle ${o.bundle.path}, written ${o.bundle.created}.`),
      figures,
      el('div', { class: 'split' },
        el('section', { 'aria-labelledby': 'popular-h' },
          el('h3', { id: 'popular-h' }, 'Most bought products'),
          table([{ label: '#', num: true }, 'Product', { label: 'Events', num: true },
            { label: 'Shoppers', num: true }], popular)),
        el('section', { 'aria-labelledby': 'ranking-h' },
          el('h3', { id: 'ranking-h' }, 'Ranking'), ranking,
          el('h3', {}, 'Rules'),
          el('p', {}, `Support ${span('support')}; confidence ${span('confidence')}; lift ${span('lift')}. `,
            el('a', { href: '#/rules' }, 'Explore the rules')))));
    ready();
  }

  // ---- rules -----------------------------------------------------------------------------

  const RULE_FILTERS = ['min_support', 'max_support', 'min_confidence', 'max_confidence',
    'min_lift', 'max_lift', 'antecedent', 'consequent', 'q', 'sort', 'order', 'limit'];
  const SORTABLE = ['support', 'confidence', 'lift', 'leverage', 'conviction'];

  function ruleItems(items) {
    return items.map((item, j) => [j ? ' + ' : '', productLink(item)]);
  }

  async function showRules(params) {
    setNav('rules');
    const state = new URLSearchParams();
    for (const key of RULE_FILTERS) if (params.get(key)) state.set(key, params.get(key));
    let offset = Number(params.get('offset') || 0);

    const input = (name, label, type = 'number', extra = {}) => el('div', { class: 'field' },
      el('label', { for: `f-${name}` }, label),
      el('input', Object.assign({ id: `f-${name}`, name, type, value: state.get(name) || '' },
        type === 'number' ? { step: 'any', min: '0' } : {}, extra)));
    const range = (metric) => el('fieldset', {},
      el('legend', {}, metric),
      el('div', { class: 'pair' },
        el('label', { for: `f-min_${metric}` }, 'from'),
        el('input', { id: `f-min_${metric}`, name: `min_${metric}`, type: 'number', step: 'any', min: '0', value: state.get(`min_${metric}`) || '' }),
        el('label', { for: `f-max_${metric}` }, 'to'),
        el('input', { id: `f-max_${metric}`, name: `max_${metric}`, type: 'number', step: 'any', min: '0', value: state.get(`max_${metric}`) || '' })));
    // `fallback`: the server's own default, so that the form shows what the table does.
    const select = (name, label, options, fallback) => el('div', { class: 'field' },
      el('label', { for: `f-${name}` }, label),
      el('select', { id: `f-${name}`, name }, options.map(([value, text]) =>
        el('option', { value, selected: (state.get(name) || fallback) === value }, text))));

    const form = el('form', { class: 'filters', 'aria-label': 'Rule filters' },
      range('support'), range('confidence'), range('lift'),
      input('antecedent', 'Product on the left (its name)', 'text', { list: 'product-names' }),
      input('consequent', 'Product on the right (its name)', 'text', { list: 'product-names' }),
      input('q', 'Text in any product of the rule', 'search'),
      select('sort', 'Sort by', SORTABLE.map((m) => [m, m]), 'lift'),
      select('order', 'Order', [['desc', 'largest first'], ['asc', 'smallest first']], 'desc'),
      select('limit', 'Rows per page', [['50', '50'], ['100', '100'], ['500', '500']], '50'),
      el('div', { class: 'actions' },
        el('button', { type: 'submit', class: 'primary' }, 'Apply'),
        el('button', { type: 'reset' }, 'Clear')));
    const names = el('datalist', { id: 'product-names' });
    const summary = el('p', { class: 'note', id: 'rules-summary', role: 'status' });
    const csv = el('a', { id: 'rules-csv', download: 'rules.csv' }, 'Download these rules as CSV');
    const pager = el('div', { class: 'actions' });
    const tableHolder = el('div', { id: 'rules-table' });
    const scatterBox = el('div', { class: 'chart', id: 'rules-scatter', role: 'img', 'aria-label': 'Rules by support (across) and confidence (up), coloured by lift; choose a point to open its rule' });
    const detail = el('aside', { class: 'panel', id: 'rule-detail', 'aria-live': 'polite' },
      el('p', { class: 'note' }, 'Choose a rule in the table or the chart to see it here.'));
    show('Rules', form, names, summary,
      el('div', { class: 'split' },
        el('section', { 'aria-label': 'Rules table' }, tableHolder, pager, csv),
        el('section', { 'aria-label': 'Rules chart and detail' }, scatterBox, el('h3', {}, 'Rule'), detail)));
    const scatter = chart(scatterBox);
    scatter.on('click', (p) => {
      const row = p.data || (lastPoints && lastPoints[p.dataIndex]);
      if (row) openRule(row[3], detail);
    });
    let lastPoints = null;

    api('/v1/explore/items?limit=1000').then((r) => {
      names.replaceChildren(...r.results.map((i) => el('option', { value: i.item })));
    }).catch(() => {});

    function query(withPage) {
      const q = new URLSearchParams(state);
      if (withPage) q.set('offset', String(offset));
      else q.delete('limit');
      return q;
    }

    async function load(started) {
      main.dataset.state = 'loading';
      const t0 = performance.now();
      const [page, points] = await Promise.all([
        api(`/v1/explore/rules?${query(true)}`),
        api(`/v1/explore/scatter?${query(false)}`),
      ]);
      const t1 = performance.now();
      renderTable(page);
      const t2 = performance.now();
      renderScatter(points);
      const t3 = performance.now();
      csv.setAttribute('href', `/v1/explore/rules.csv?${query(false)}`);
      history.replaceState(null, '', `#/rules?${query(true)}`);
      const first = page.total ? page.offset + 1 : 0;
      const last = page.offset + page.rules.length;
      summary.textContent = `${num(page.total)} rules match; rows ${num(first)}–${num(last)}. `
        + `Filtered on the server in ${page.took_ms.toFixed(1)} ms`
        + (points.shown < points.total ? `; the chart shows ${num(points.shown)} of them, evenly spaced.` : '.');
      await new Promise((r) => requestAnimationFrame(() => r()));
      // Where the time went, for benches/explorer_timing.py.
      timings.last = { fetch: t1 - t0, table: t2 - t1, chart: t3 - t2, frame: performance.now() - t3 };
      if (started !== undefined) {
        timings.filters.push(performance.now() - started);
        main.dataset.filterMs = String(timings.filters[timings.filters.length - 1]);
      }
      ready();
    }

    function renderTable(page) {
      const sort = state.get('sort') || 'lift';
      const order = state.get('order') || 'desc';
      const header = (metric) => el('th', {
        scope: 'col', class: 'num',
        'aria-sort': metric === sort ? (order === 'asc' ? 'ascending' : 'descending') : null,
      }, el('button', {
        type: 'button',
        onclick: () => {
          const next = metric === sort && order === 'desc' ? 'asc' : 'desc';
          state.set('sort', metric);
          state.set('order', next);
          form.elements.sort.value = metric;
          form.elements.order.value = next;
          offset = 0;
          load(performance.now()).catch(failed);
        },
      }, metric + (metric === sort ? (order === 'asc' ? ' ▲' : ' ▼') : '')));
      const rows = page.rules.map((r) => el('tr', { 'data-rule': r.id },
        el('td', {}, ruleItems(r.antecedent)),
        el('td', {}, ruleItems(r.consequent)),
        ...SORTABLE.map((m) => cell(num(r[m], m === 'support' || m === 'leverage' ? 4 : 3), true)),
        el('td', {}, el('button', {
          type: 'button', 'aria-label': `Open rule ${r.id}`,
          onclick: (e) => {
            for (const tr of tableHolder.querySelectorAll('tr.selected')) tr.classList.remove('selected');
            e.target.closest('tr').classList.add('selected');
            openRule(r.id, detail);
          },
        }, 'Open'))));
      tableHolder.replaceChildren(el('table', { id: 'rules' },
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, 'If a basket holds'),
          el('th', { scope: 'col' }, 'it also holds'),
          ...SORTABLE.map(header),
          el('th', { scope: 'col' }, el('span', { class: 'note' }, 'Rule')))),
        el('tbody', {}, rows.length ? rows
          : el('tr', {}, el('td', { colspan: 8, class: 'note' }, 'No rule matches these filters.')))));
      const limit = page.limit;
      pager.replaceChildren(
        el('button', {
          type: 'button', disabled: offset === 0,
          onclick: () => { offset = Math.max(0, offset - limit); load(performance.now()).catch(failed); },
        }, 'Previous'),
        el('button', {
          type: 'button', disabled: offset + limit >= page.total,
          onclick: () => { offset += limit; load(performance.now()).catch(failed); },
        }, 'Next'));
    }

    // The chart's frame is set once; a new filter only replaces the points and the colour
    // range (a merge, not a rebuild).
    let framed = false;
    function renderScatter(result) {
      lastPoints = result.points;
      let lo = Infinity;
      let hi = -Infinity;
      for (const p of result.points) { lo = Math.min(lo, p[2]); hi = Math.max(hi, p[2]); }
      if (!(lo <= hi)) { lo = 0; hi = 1; }
      if (lo === hi) hi = lo + 1;
      const series = [{
        type: 'scatter', symbolSize: 6, data: result.points,
        large: result.points.length > 2000, largeThreshold: 2000,
      }];
      if (framed) {
        scatter.setOption({ visualMap: { min: lo, max: hi }, series });
        return;
      }
      framed = true;
      scatter.setOption({
        animation: false,
        grid: { left: 64, right: 80, top: 16, bottom: 48 },
        xAxis: { type: 'value', name: 'support', nameLocation: 'middle', nameGap: 28, scale: true },
        yAxis: { type: 'value', name: 'confidence', nameLocation: 'middle', nameGap: 44, scale: true },
        visualMap: {
          type: 'continuous', dimension: 2, min: lo, max: hi, right: 4, top: 'middle',
          text: ['lift', ''], calculable: false, inRange: { color: ['#9ecae1', '#08306b'] },
        },
        tooltip: {
          trigger: 'item',
          formatter: (p) => {
            const d = p.data || lastPoints[p.dataIndex];
            return escapeHtml(`rule ${d[3]}: support ${num(d[0], 4)}, confidence ${num(d[1])}, lift ${num(d[2])}`);
          },
        },
        series,
      });
    }

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const started = performance.now();
      for (const key of RULE_FILTERS) {
        const value = (form.elements[key].value || '').trim();
        if (value) state.set(key, value); else state.delete(key);
      }
      offset = 0;
      load(started).catch(failed);
    });
    form.addEventListener('reset', () => {
      setTimeout(() => {
        for (const key of RULE_FILTERS) state.delete(key);
        offset = 0;
        load(performance.now()).catch(failed);
      });
    });
    await load();
  }

  async function openRule(id, detail) {
    try {
      const r = await api(`/v1/explore/rules/${encodeURIComponent(id)}`);
      const row = (label, value) => [el('dt', {}, label), el('dd', {}, value)];
      detail.replaceChildren(
        el('p', {}, el('strong', {}, 'If '), ruleItems(r.antecedent), el('strong', {}, ' then '), ruleItems(r.consequent)),
        el('dl', {},
          row('Support', `${num(r.support, 4)} (${pct(r.support)} of baskets)`),
          row('Confidence', num(r.confidence)),
          row('Lift', num(r.lift)),
          row('Leverage', num(r.leverage, 4)),
          row('Conviction', num(r.conviction)),
          row("Zhang's metric", num(r.zhangs_metric)),
          row('Jaccard', num(r.jaccard)),
          row('Certainty', num(r.certainty)),
          row('Left side alone', pct(r.antecedent_support)),
          row('Right side alone', pct(r.consequent_support))),
        el('p', {}, ...r.consequent.map((c) => el('a', {
          href: `#/rules?consequent=${encodeURIComponent(c.item)}`,
        }, `Every rule that leads to ${c.text || c.item}`))));
    } catch (error) {
      detail.replaceChildren(el('p', { class: 'error' }, error.message));
    }
  }

  // ---- a product -------------------------------------------------------------------------

  async function showProduct(name) {
    setNav(null);
    const p = await api(`/v1/explore/items/${encodeURIComponent(name)}`);
    const title = p.text && p.text !== p.item ? p.text : p.item;
    const fields = Object.entries(p.fields || {}).filter(([, v]) => v);
    const pop = p.popularity;
    const partners = p.partners.map((q) => el('tr', {},
      el('td', {}, productLink(q)), cell(num(q.lift), true), cell(num(q.confidence), true),
      cell(num(q.confidence_back), true), cell(num(q.baskets), true)));
    const before = p.bought_before.items.map((b) => el('tr', {},
      el('td', {}, productLink(b)), cell(num(b.shoppers), true), cell(pct(b.share), true),
      cell(num(b.lift), true)));
    const similar = p.similar === null
      ? el('p', { class: 'note' }, 'This bundle has no item vectors (fitted without a language model).')
      : table(['Product', { label: 'Cosine', num: true }],
        p.similar.map((s) => el('tr', {}, el('td', {}, productLink(s)), cell(num(s.score), true))));
    const graphBox = el('div', { class: 'chart', id: 'product-graph', role: 'img', 'aria-label': `${title} and its partners: products as nodes, pairs bought together more than chance as edges, thicker for a higher lift` });
    show(title,
      p.text !== p.item ? el('p', { class: 'item-text' }, `Product ${p.item}`) : null,
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'primary', onclick: () => { addToBasket(p.item); location.hash = basketHash(); } }, 'Add to basket'),
        el('a', { href: `#/rules?antecedent=${encodeURIComponent(p.item)}` }, `${num(p.rules.as_antecedent)} rules with it on the left`),
        el('a', { href: `#/rules?consequent=${encodeURIComponent(p.item)}` }, `${num(p.rules.as_consequent)} with it on the right`)),
      el('dl', { class: 'figures' },
        el('div', {}, el('dt', {}, 'Events'), el('dd', {}, num(pop.events))),
        el('div', {}, el('dt', {}, 'Shoppers'), el('dd', {}, num(pop.shoppers))),
        el('div', {}, el('dt', {}, 'Baskets'), el('dd', {}, num(pop.baskets))),
        el('div', {}, el('dt', {}, 'Rank by events'), el('dd', {}, `#${pop.rank}`))),
      fields.length ? el('div', { class: 'panel' }, el('dl', {},
        fields.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))) : null,
      el('div', { class: 'split' },
        el('section', { 'aria-labelledby': 'partners-h' },
          el('h3', { id: 'partners-h' }, 'Bought with it, by lift'),
          el('div', { id: 'partners' }, partners.length ? table(['Product', { label: 'Lift', num: true },
            { label: 'P(it | this)', num: true }, { label: 'P(this | it)', num: true },
            { label: 'Baskets', num: true }], partners)
            : el('p', { class: 'note' }, 'No product shares enough baskets with it.')),
          el('h3', { id: 'before-h' }, 'Bought before it'),
          el('div', { id: 'before' }, before.length ? table(['Product', { label: 'Shoppers', num: true },
            { label: 'Share', num: true }, { label: 'Lift', num: true }], before,
          `Of the ${num(p.bought_before.shoppers)} shoppers with a basket before their first with it.`)
            : el('p', { class: 'note' }, 'Too few shoppers bought it after an earlier basket.'))),
        el('section', { 'aria-labelledby': 'graph-h' },
          el('h3', { id: 'graph-h' }, 'Its neighbourhood'), graphBox,
          el('h3', { id: 'similar-h' }, 'Similar by the model'), el('div', { id: 'similar' }, similar))));
    drawGraph(graphBox, p.graph);
    ready();
  }

  function drawGraph(box, graph) {
    const g = chart(box);
    const most = Math.max(1, ...graph.nodes.map((n) => n.events));
    const maxLift = Math.max(1, ...graph.edges.map((e) => e.lift));
    g.setOption({
      animation: false,
      tooltip: {
        formatter: (p) => (p.dataType === 'edge'
          ? escapeHtml(`${graph.nodes[p.data.source].item} + ${graph.nodes[p.data.target].item}: lift ${num(p.data.lift)}, ${p.data.baskets} baskets`)
          : escapeHtml(`${p.data.item}: ${p.data.events} events`)),
      },
      series: [{
        type: 'graph', layout: 'force', roam: true, draggable: true,
        force: { repulsion: 220, edgeLength: [60, 160], gravity: 0.08 },
        label: { show: true, position: 'right', formatter: (p) => p.data.item },
        data: graph.nodes.map((n, j) => ({
          name: String(j), item: n.item, events: n.events,
          symbolSize: 10 + 26 * Math.sqrt(n.events / most),
          itemStyle: { color: j === 0 ? '#c2410c' : '#1f5fbf' },
        })),
        links: graph.edges.map((e) => ({
          source: String(e.source), target: String(e.target), lift: e.lift, baskets: e.baskets,
          lineStyle: { width: 1 + 5 * (e.lift / maxLift), opacity: 0.6 },
        })),
      }],
    });
    g.on('click', (p) => {
      if (p.dataType === 'node' && p.dataIndex > 0) location.hash = productHref(p.data.item);
    });
  }

  // ---- search ----------------------------------------------------------------------------

  async function showSearch(params) {
    setNav(null);
    const q = params.get('q') || '';
    document.getElementById('search-text').value = q;
    const found = await api(`/v1/explore/items?q=${encodeURIComponent(q)}&limit=50`);
    const rows = found.results.map((i) => el('tr', {},
      el('td', {}, productLink(i)), cell(num(i.events), true), cell(`#${i.rank}`, true),
      el('td', {}, el('button', { type: 'button', onclick: () => { addToBasket(i.item); location.hash = basketHash(); } }, 'Add to basket'))));
    show(`Products matching “${q}”`,
      rows.length ? table(['Product', { label: 'Events', num: true }, { label: 'Rank', num: true }, ''], rows)
        : el('p', { class: 'note' }, 'No product name or text holds it.'));
    ready();
  }

  document.getElementById('search').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = document.getElementById('search-text').value.trim();
    location.hash = `#/search?q=${encodeURIComponent(q)}`;
  });

  // ---- a basket --------------------------------------------------------------------------

  function addToBasket(item) {
    if (!basket.includes(item)) basket.push(item);
  }

  function basketHash(extra) {
    const q = new URLSearchParams(extra || {});
    for (const item of basket) q.append('item', item);
    return `#/basket?${q}`;
  }

  async function showBasket(params) {
    setNav('basket');
    basket = params.getAll('item');
    const o = await overview();
    const mode = params.get('mode') || o.ranking.mode;
    const list = el('ul', { class: 'plain', id: 'basket-items' });
    const recs = el('ol', { id: 'recommendations' });
    const status = el('p', { class: 'note', role: 'status' });
    const found = el('ul', { class: 'plain', id: 'basket-found' });
    const addForm = el('form', { class: 'actions', role: 'search', 'aria-label': 'Add a product to the basket' },
      el('label', { for: 'basket-add' }, 'Add a product'),
      el('input', { id: 'basket-add', type: 'search', autocomplete: 'off' }),
      el('button', { type: 'submit' }, 'Find'));
    const modeSelect = el('select', { id: 'basket-mode' },
      ['discover', 'mixed', 'buy-again'].map((m) => el('option', { value: m, selected: m === mode }, m)));
    show('Basket',
      el('p', { class: 'note' }, 'Recommendations come from /v1/recommend, the route services use, with their reasons.'),
      el('div', { class: 'split' },
        el('section', { 'aria-labelledby': 'basket-h' },
          el('h3', { id: 'basket-h' }, 'In the basket'), list, addForm, found),
        el('section', { 'aria-labelledby': 'recs-h' },
          el('h3', { id: 'recs-h' }, 'Recommended'),
          el('div', { class: 'actions' }, el('label', { for: 'basket-mode' }, 'Which products'), modeSelect),
          status, recs)));

    function refresh() {
      history.replaceState(null, '', basketHash({ mode: modeSelect.value }));
      list.replaceChildren(...(basket.length ? basket.map((item) => el('li', {},
        el('a', { href: productHref(item) }, item),
        el('button', { type: 'button', 'aria-label': `Remove ${item}`, onclick: () => { basket = basket.filter((b) => b !== item); refresh(); } }, 'Remove')))
        : [el('li', { class: 'note' }, 'Empty: add products to see what goes with them.')]));
      return recommend();
    }

    async function recommend() {
      main.dataset.state = 'loading';
      if (!basket.length) {
        recs.replaceChildren();
        status.textContent = '';
        ready();
        return;
      }
      try {
        const answer = await api('/v1/recommend', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ items: basket, k: 10, mode: modeSelect.value }),
        });
        status.textContent = answer.unknown_items.length
          ? `Not in this bundle: ${answer.unknown_items.join(', ')}` : '';
        recs.replaceChildren(...answer.recommendations.map((r) => el('li', {},
          el('a', { href: productHref(r.name) }, r.name), ' ',
          el('span', { class: 'note' }, `score ${num(r.score)}`), ' ',
          el('button', { type: 'button', 'aria-label': `Add ${r.name}`, onclick: () => { addToBasket(r.name); refresh(); } }, 'Add'),
          el('div', { class: 'why' }, r.why || ''))));
      } catch (error) {
        status.textContent = error.message;
      }
      ready();
    }

    addForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const q = document.getElementById('basket-add').value.trim();
      const r = await api(`/v1/explore/items?q=${encodeURIComponent(q)}&limit=10`);
      found.replaceChildren(...r.results.map((i) => el('li', {},
        productLink(i),
        el('button', { type: 'button', 'aria-label': `Add ${i.item}`, onclick: () => { addToBasket(i.item); found.replaceChildren(); refresh(); } }, 'Add'))));
      if (!r.results.length) found.replaceChildren(el('li', { class: 'note' }, 'No product matches.'));
    });
    modeSelect.addEventListener('change', refresh);
    await refresh();
  }

  // ---- routing ---------------------------------------------------------------------------

  async function route() {
    main.dataset.state = 'loading';
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, search] = hash.split('?');
    const params = new URLSearchParams(search || '');
    try {
      if (path === '/' || path === '') await showOverview();
      else if (path === '/rules') await showRules(params);
      else if (path === '/basket') await showBasket(params);
      else if (path === '/search') await showSearch(params);
      else if (path.startsWith('/product/')) await showProduct(decodeURIComponent(path.slice('/product/'.length)));
      else { show('Not found', el('p', {}, 'No such view.')); ready(); }
    } catch (error) {
      failed(error);
    }
    const heading = main.querySelector('h2');
    if (heading) heading.focus({ preventScroll: true });
  }

  window.addEventListener('hashchange', route);
  route();
})();
