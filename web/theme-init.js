// Loaded as a classic, blocking script in <head> so the theme applies before the first paint
// (no flash of the wrong theme). It must stay tiny and dependency-free. data-theme is always set:
// the user's stored pick, else the system preference (theme.js follows system changes live).
let theme = null;
try {
  theme = JSON.parse(localStorage.getItem('echo.theme'));
} catch {
  // No storage: follow the system.
}
const picked = theme === 'light' || theme === 'dark';
document.documentElement.dataset.themeSource = picked ? 'user' : 'system';
document.documentElement.dataset.theme = picked
  ? theme
  : (window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
