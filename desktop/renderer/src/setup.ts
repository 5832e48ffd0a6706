/**
 * The first-run form (desktop/electron/setup.html): its texts come from the desk's catalogues, in the
 * system's language like the rest of the app; the values go to the main process through the preload's
 * `deskSetup` (its type is declared with the app's, in main.ts).
 */
import { language, t } from './i18n/index.ts';
import type { MessageKey } from './i18n/catalogue.ts';

document.documentElement.lang = language;
document.title = t('setup.title');
for (const element of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
  element.textContent = t(element.dataset.i18n as MessageKey);
}

const form = document.getElementById('setup') as HTMLFormElement;
const error = document.getElementById('setup-error') as HTMLElement;
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const text = (name: string): string => {
    const value = data.get(name);
    return typeof value === 'string' ? value : '';
  };
  const save = window.deskSetup?.save ?? (() => Promise.resolve('this form runs inside the desk app only'));
  save(text('serverUrl'), text('token')).then(
    (message) => {
      error.textContent = message ?? '';
    },
    (err: unknown) => {
      error.textContent = String(err);
    },
  );
});
