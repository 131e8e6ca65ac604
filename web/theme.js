import { prefs } from './storage.js';

const KEY = 'echo.theme';
const systemDark = window.matchMedia('(prefers-color-scheme: dark)');

/** The theme in effect: the user's pick, else the system's. */
export function currentTheme() {
  const picked = document.documentElement.dataset.theme;
  if (picked === 'light' || picked === 'dark') return picked;
  return systemDark.matches ? 'dark' : 'light';
}

/** Wires every `.theme-toggle` button; each click flips the theme and remembers the choice. */
export function setUpThemeToggles() {
  const buttons = document.querySelectorAll('.theme-toggle');
  const label = () => {
    const next = currentTheme() === 'dark' ? 'light' : 'dark';
    for (const button of buttons) {
      button.setAttribute('aria-label', `Switch to ${next} theme`);
      button.title = `Switch to ${next} theme`;
      button.dataset.current = currentTheme();
    }
    document.querySelector('meta[name="theme-color"]')
      ?.setAttribute('content', currentTheme() === 'dark' ? '#15120f' : '#faf6f0');
  };
  for (const button of buttons) {
    button.addEventListener('click', () => {
      const next = currentTheme() === 'dark' ? 'light' : 'dark';
      document.documentElement.dataset.theme = next;
      prefs.set(KEY, next);
      label();
    });
  }
  // Until the user picks, a system change (e.g. night mode) is followed live.
  systemDark.addEventListener('change', label);
  label();
}
