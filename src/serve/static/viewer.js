// The inkwell viewer page: OpenSeadragon over tiles that `inkwell serve` renders on demand.
// Left view: a layer (z slider, window/level) with overlays blended on top; right view (side-by-side mode):
// the same layer with one chosen overlay, kept in step with the left view's pan and zoom.
/* global OpenSeadragon */
(async function main() {
  const $ = (id) => document.getElementById(id);
  const info = await (await fetch('/api/info')).json();
  const COLOURS = { mask: '#00aaff', inklabels: '#ff3c3c', prediction: '#ffd200' };
  const state = { ds: null, z: 0, lo: 0, hi: 255, overlays: [], sbs: false, right: 'layer' };
  const common = {
    showNavigationControl: true,
    showNavigator: false,
    animationTime: 0.4,
    maxZoomPixelRatio: 8,
    imageLoaderLimit: 8,
    crossOriginPolicy: false,
    gestureSettingsMouse: { clickToZoom: false },
    prefixUrl: '/osd/images/',
    // `?drawer=canvas` picks OpenSeadragon's 2-D canvas drawer (for machines without WebGL, e.g. headless tests).
    ...(new URLSearchParams(location.search).get('drawer') === 'canvas' ? { drawer: 'canvas' } : {}),
  };
  const left = OpenSeadragon({ id: 'left', ...common });
  const right = OpenSeadragon({ id: 'rightview', ...common });
  const overlayItems = new Map();
  let rightOverlay = null;

  function source(kind, which) {
    const d = state.ds;
    const q = kind === 'layer' ? `?lo=${Math.round(state.lo)}&hi=${Math.round(state.hi)}` : '';
    return {
      width: d.width,
      height: d.height,
      tileSize: info.tileSize,
      tileOverlap: 0,
      minLevel: 0,
      maxLevel: d.maxLevel,
      getTileUrl: (level, x, y) => `/tiles/${d.index}/${kind}/${which}/${level}/${x}_${y}.png${q}`,
    };
  }

  function add(viewer, tileSource, opts) {
    return new Promise((resolve) => {
      viewer.addTiledImage({ tileSource, ...opts, success: (e) => resolve(e.item), error: () => resolve(null) });
    });
  }

  async function showLayer() {
    $('zval').textContent = String(state.z);
    $('levelval').textContent = String(Math.round((state.lo + state.hi) / 2));
    $('windowval').textContent = String(Math.round(state.hi - state.lo));
    const replace = left.world.getItemCount() > 0;
    await add(left, source('layer', state.z), replace ? { index: 0, replace: true } : { index: 0 });
    if (state.sbs) await showRight();
  }

  async function setOverlay(k) {
    const o = state.overlays[k];
    let item = overlayItems.get(k);
    if (o.on && !item) {
      item = await add(left, source('overlay', k), { opacity: o.opacity });
      overlayItems.set(k, item);
    }
    if (item) item.setOpacity(o.on ? o.opacity : 0);
  }

  async function showRight() {
    const replace = right.world.getItemCount() > 0;
    await add(right, source('layer', state.z), replace ? { index: 0, replace: true } : { index: 0 });
    if (rightOverlay) {
      right.world.removeItem(rightOverlay);
      rightOverlay = null;
    }
    if (state.right !== 'layer')
      rightOverlay = await add(right, source('overlay', Number(state.right)), { opacity: 1 });
  }

  // Pan and zoom kept in step between the two views.
  let syncing = false;
  function sync(from, to) {
    from.addHandler('viewport-change', () => {
      if (syncing || !state.sbs) return;
      syncing = true;
      to.viewport.zoomTo(from.viewport.getZoom(), null, true);
      to.viewport.panTo(from.viewport.getCenter(), true);
      syncing = false;
    });
  }
  sync(left, right);
  sync(right, left);

  function setWindow(lo, hi) {
    state.lo = lo;
    state.hi = Math.max(hi, lo + 1);
    $('level').value = String((state.lo + state.hi) / 2);
    $('window').value = String(state.hi - state.lo);
  }

  function buildOverlays() {
    const box = $('overlays');
    box.querySelectorAll('.overlay').forEach((n) => n.remove());
    const pick = $('right');
    pick.innerHTML = '<option value="layer">layer only</option>';
    state.ds.overlays.forEach((o, k) => {
      const div = document.createElement('div');
      div.className = 'overlay';
      div.innerHTML =
        `<label class="row"><span><input type="checkbox" data-k="${k}"> <span ` +
        `class="swatch"></span><span class="name"></span></span></label>` +
        `<input type="range" min="0" max="1" step="0.05" value="0.5" data-op="${k}" aria-label="opacity">`;
      div.querySelector('.swatch').style.background = COLOURS[o.kind];
      div.querySelector('.name').textContent = o.name;
      box.appendChild(div);
      const opt = document.createElement('option');
      opt.value = String(k);
      opt.textContent = o.name;
      pick.appendChild(opt);
    });
    state.overlays = state.ds.overlays.map(() => ({ on: false, opacity: 0.5 }));
    if (state.ds.overlays.length === 0) box.insertAdjacentHTML('beforeend', '<div class="overlay note">none</div>');
  }

  async function openDataset(i) {
    state.ds = info.datasets[i];
    const d = state.ds;
    $('dsinfo').textContent = `${d.layout}, ${d.width} x ${d.height}, ${d.layers.length} layers, ${d.dtype}`;
    const zs = $('z');
    zs.min = '0';
    zs.max = String(d.layers.length - 1);
    const mid = Math.floor(d.layers.length / 2);
    zs.value = String(mid);
    state.z = d.layers[mid];
    const top = d.dtype === 'uint16' ? 65535 : 255;
    for (const id of ['level', 'window']) {
      $(id).min = '1';
      $(id).max = String(top);
      $(id).step = '1';
    }
    setWindow(d.window[0], d.window[1]);
    buildOverlays();
    left.world.removeAll();
    right.world.removeAll();
    overlayItems.clear();
    rightOverlay = null;
    await showLayer();
  }

  let reload = null;
  function later(fn) {
    clearTimeout(reload);
    reload = setTimeout(fn, 120);
  }

  info.datasets.forEach((d) => {
    const opt = document.createElement('option');
    opt.value = String(d.index);
    opt.textContent = d.id;
    $('dataset').appendChild(opt);
  });
  $('dataset').addEventListener('change', (e) => openDataset(Number(e.target.value)));
  $('z').addEventListener('input', (e) => {
    state.z = state.ds.layers[Number(e.target.value)];
    $('zval').textContent = String(state.z);
    later(showLayer);
  });
  const onWindow = () => {
    const level = Number($('level').value);
    const width = Number($('window').value);
    state.lo = level - width / 2;
    state.hi = level + width / 2;
    later(showLayer);
  };
  $('level').addEventListener('input', onWindow);
  $('window').addEventListener('input', onWindow);
  $('auto').addEventListener('click', () => {
    setWindow(state.ds.window[0], state.ds.window[1]);
    showLayer();
  });
  $('overlays').addEventListener('input', (e) => {
    const t = e.target;
    if (t.dataset.k !== undefined) {
      state.overlays[Number(t.dataset.k)].on = t.checked;
      setOverlay(Number(t.dataset.k));
    }
    if (t.dataset.op !== undefined) {
      state.overlays[Number(t.dataset.op)].opacity = Number(t.value);
      setOverlay(Number(t.dataset.op));
    }
  });
  $('sbs').addEventListener('change', async (e) => {
    state.sbs = e.target.checked;
    $('rightview').classList.toggle('hidden', !state.sbs);
    if (state.sbs) {
      await showRight();
      right.viewport.zoomTo(left.viewport.getZoom(), null, true);
      right.viewport.panTo(left.viewport.getCenter(), true);
    }
  });
  $('right').addEventListener('change', (e) => {
    state.right = e.target.value;
    if (state.sbs) showRight();
  });

  // Hover: the position in image pixels and the values under the cursor (one request in flight at a time).
  let pending = false;
  let queued = null;
  async function lookup(x, y) {
    if (pending) {
      queued = [x, y];
      return;
    }
    pending = true;
    try {
      const r = await fetch(`/api/value?ds=${state.ds.index}&z=${state.z}&x=${x}&y=${y}`);
      if (r.ok) {
        const v = await r.json();
        const lines = [`x ${v.x}  y ${v.y}  z ${v.z}`, `value ${v.value}`];
        for (const [name, val] of Object.entries(v.overlays))
          lines.push(`${name}: ` + `${Number.isInteger(val) ? val : val.toFixed(3)}`);
        $('hover').textContent = lines.join('\n');
      } else {
        $('hover').textContent = `x ${x}  y ${y}: outside the image`;
      }
    } finally {
      pending = false;
      if (queued) {
        const [qx, qy] = queued;
        queued = null;
        await lookup(qx, qy);
      }
    }
  }
  for (const viewer of [left, right]) {
    new OpenSeadragon.MouseTracker({
      element: viewer.element,
      moveHandler: (e) => {
        const item = viewer.world.getItemAt(0);
        if (!item) return;
        const p = item.viewportToImageCoordinates(viewer.viewport.pointFromPixel(e.position));
        lookup(Math.floor(p.x), Math.floor(p.y));
      },
    });
  }

  window.inkwell = { left, right, state, info, ready: false };
  await openDataset(0);
  window.inkwell.ready = true;
})();
