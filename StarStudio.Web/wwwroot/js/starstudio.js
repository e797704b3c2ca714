// Browser side of the playground: scale images arrive as bytes over the circuit and are shown through object URLs,
// so no image ever passes through a render diff as a data URL.
window.starstudio = (() => {
  let urls = [];          // urls[row][scale] -> object URL of that scale's preview
  let shown = -1;         // scale in the main view, -1 = follow the newest
  let arrivals = [];      // {scale, row, t}: when each frame reached the page (read by tests and the benchmark)
  let startedAt = 0;
  const keyed = new Map();
  const mainImages = () => document.querySelectorAll('img[data-main-row]');

  function setMain(scale) {
    for (const img of mainImages()) {
      const row = +img.dataset.mainRow;
      const u = urls[row] && urls[row][scale];
      if (u && img.src !== u) img.src = u;
    }
  }

  function newest() { return urls[0] ? urls[0].length - 1 : -1; }

  return {
    reset() {
      for (const row of urls) for (const u of row || []) if (u) URL.revokeObjectURL(u);
      urls = [];
      shown = -1;
      arrivals = [];
      for (const img of mainImages()) img.removeAttribute('src');
    },
    frame(scale, row, bytes) {
      (urls[row] ||= [])[scale] = URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
      arrivals.push({ scale, row, t: performance.now() - startedAt });
      if (shown < 0) setMain(scale);
      window.starstudio.fillFilm();
    },
    // Film thumbnails are rendered by Blazor; their pictures come from here (Blazor never touches their src).
    fillFilm() {
      for (const img of document.querySelectorAll('img[data-film]')) {
        const u = urls[0] && urls[0][+img.dataset.film];
        if (u && img.src !== u) img.src = u;
      }
      if (shown < 0 && newest() >= 0) setMain(newest());
    },
    // Called on the generate click (before the server hears of it), so arrival times include the round trip.
    markStart() { startedAt = performance.now(); arrivals = []; },
    arrivals() { return arrivals; },
    show(scale) { shown = scale; setMain(scale < 0 ? newest() : scale); },
    download(bytes, name) {
      const u = URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
      const a = document.createElement('a');
      a.href = u; a.download = name; document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(u), 10000);
    },
    // Keyed images (Compare, explorer): Blazor renders <img data-src-key="...">, the bytes live here as object URLs.
    put(key, bytes) {
      const old = keyed.get(key);
      if (old) URL.revokeObjectURL(old);
      keyed.set(key, URL.createObjectURL(new Blob([bytes], { type: 'image/png' })));
      window.starstudio.fillKeys();
    },
    fillKeys() {
      for (const img of document.querySelectorAll('img[data-src-key]')) {
        const u = keyed.get(img.dataset.srcKey);
        if (u) { if (img.src !== u) img.src = u; } else img.removeAttribute('src');
      }
    },
    clearKeys(prefix) {
      for (const [k, u] of [...keyed]) if (k.startsWith(prefix)) { URL.revokeObjectURL(u); keyed.delete(k); }
      window.starstudio.fillKeys();
    },
    copy(text) { return navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.resolve(); },
    // Ctrl+Enter generates and Esc stops, wherever the focus is on the page.
    registerKeys(dotnet) {
      const handler = e => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); window.starstudio.markStart(); dotnet.invokeMethodAsync('OnCtrlEnter'); }
        else if (e.key === 'Escape') dotnet.invokeMethodAsync('OnEscape');
      };
      // Dropping a PNG anywhere on the page restores the parameters StarStudio wrote into it.
      const over = e => { if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) e.preventDefault(); };
      const drop = async e => {
        const file = e.dataTransfer && [...e.dataTransfer.files].find(f => f.type === 'image/png' || f.name.endsWith('.png'));
        if (!file) return;
        e.preventDefault();
        dotnet.invokeMethodAsync('OnPngDropped', new Uint8Array(await file.arrayBuffer()));
      };
      document.addEventListener('keydown', handler);
      document.addEventListener('dragover', over);
      document.addEventListener('drop', drop);
      return {
        dispose: () => {
          document.removeEventListener('keydown', handler);
          document.removeEventListener('dragover', over);
          document.removeEventListener('drop', drop);
        },
      };
    },
    unregisterKeys(handle) { if (handle) handle.dispose(); },
    // The theme choice survives reloads (this browser only; nothing is stored on the server).
    theme() { try { return localStorage.getItem('starstudio.theme'); } catch { return null; } },
    setTheme(name) { try { localStorage.setItem('starstudio.theme', name); } catch { } },
  };
})();
