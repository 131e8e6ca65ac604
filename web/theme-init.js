// Loaded as a classic, blocking script in <head> so the theme applies before the first paint
// (no flash of the wrong theme). It must stay tiny and dependency-free. data-theme is always set:
// the user's stored pick, else the system preference (theme.js follows system changes live).
{
  // A block: a classic script's top-level names would be globals of the page.
  let stored = null;
  try {
    stored = JSON.parse(localStorage.getItem('echo.theme'));
  } catch {
    // No storage: follow the system.
  }
  const picked = stored === 'light' || stored === 'dark';
  document.documentElement.dataset.themeSource = picked ? 'user' : 'system';
  document.documentElement.dataset.theme = picked
    ? stored
    : (window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
}
