// Loaded as a classic, blocking script in <head> so a stored theme applies before the first paint
// (no flash of the wrong theme). It must stay tiny and dependency-free.
try {
  const theme = JSON.parse(localStorage.getItem('echo.theme'));
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
} catch {
  // No storage: the CSS follows the system preference.
}
