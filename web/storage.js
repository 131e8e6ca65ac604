// Web Storage that never throws: storage can be disabled or full (private modes, quotas), and the
// chat must keep working without it, just without persistence.

function wrap(getStorage) {
  const area = () => {
    try { return getStorage(); } catch { return null; }
  };
  return {
    get(key, fallback = null) {
      try {
        const raw = area()?.getItem(key);
        return raw == null ? fallback : JSON.parse(raw);
      } catch { return fallback; }
    },
    set(key, value) {
      try { area()?.setItem(key, JSON.stringify(value)); } catch { /* persistence is best effort */ }
    },
    remove(key) {
      try { area()?.removeItem(key); } catch { /* persistence is best effort */ }
    },
  };
}

/** Per tab: the room this tab is in survives a refresh but not closing the tab. */
export const tabStore = wrap(() => window.sessionStorage);
/** Per browser: preferences (theme, name, recent emoji). */
export const prefs = wrap(() => window.localStorage);
