import { prefs } from './storage.js';

const KEY = 'echo.theme';
const systemDark = window.matchMedia('(prefers-color-scheme: dark)');

/** The theme in effect (theme-init.js always sets one: the user's pick, else the system's). */
export function currentTheme() {
  return document.documentElement.dataset.theme === 'light' ? 'light' : 'dark';
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
      document.documentElement.dataset.themeSource = 'user';
      prefs.set(KEY, next);
      label();
    });
  }
  // Until the user picks, a system change (e.g. night mode) is followed live.
  systemDark.addEventListener('change', () => {
    if (document.documentElement.dataset.themeSource === 'system') {
      document.documentElement.dataset.theme = systemDark.matches ? 'dark' : 'light';
    }
    label();
  });
  label();
}
