/**
 * The script of the homeowner pages, served as /account/assets/account-page.js (the CSP allows no
 * inline script). It runs the passkey ceremonies with @simplewebauthn/browser's UMD bundle (loaded
 * before it) and talks to /account/ with fetch, sending the page's CSRF token in x-hearth-csrf. It
 * runs in the browser: it imports nothing and is compiled with the rest of the tree.
 */
export {};

interface Problem {
  type?: string;
  detail?: string;
}

declare const SimpleWebAuthnBrowser: {
  startRegistration(args: { optionsJSON: unknown }): Promise<unknown>;
  startAuthentication(args: { optionsJSON: unknown }): Promise<unknown>;
};

const csrf = document.querySelector<HTMLMetaElement>('meta[name="hearth-csrf"]')?.content ?? '';
const status = document.getElementById('status');

function say(text: string): void {
  if (status) status.textContent = text;
}

async function post<T>(url: string, body: unknown = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hearth-csrf': csrf },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const answer = (await response.json().catch(() => ({}))) as T & Problem;
  if (!response.ok) throw new Error(`${answer.detail ?? response.statusText} (${(answer.type ?? '').split('/').pop() ?? response.status})`);
  return answer;
}

function on(id: string, handler: () => Promise<void>): void {
  document.getElementById(id)?.addEventListener('click', (event) => {
    event.preventDefault();
    say('');
    handler().catch((error: unknown) => say(error instanceof Error ? error.message : String(error)));
  });
}

async function signIn(): Promise<void> {
  const { options } = await post<{ options: unknown }>('/account/webauthn/sign-in/options');
  const response = await SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: options });
  await post('/account/webauthn/sign-in/verify', response);
  location.assign('/account/');
}

async function register(invitation?: string): Promise<void> {
  const { options } = await post<{ options: unknown }>('/account/webauthn/register/options', invitation ? { invitation } : {});
  const response = await SimpleWebAuthnBrowser.startRegistration({ optionsJSON: options });
  const { recoveryCodes } = await post<{ recoveryCodes?: string[] }>('/account/webauthn/register/verify', response);
  if (!recoveryCodes) {
    location.assign('/account/');
    return;
  }
  const list = document.getElementById('recovery-codes');
  for (const code of recoveryCodes) {
    const item = document.createElement('li');
    item.textContent = code;
    list?.append(item);
  }
  document.getElementById('registered')?.classList.remove('hidden');
  document.getElementById('register')?.classList.add('hidden');
}

switch (document.body.dataset.page) {
  case 'sign-in':
    on('sign-in', signIn);
    break;
  case 'register': {
    // The invitation is in the fragment, which no server or Referer ever sees; drop it from the address bar too.
    const invitation = location.hash.slice(1);
    history.replaceState(null, '', location.pathname);
    on('register', () => register(invitation));
    break;
  }
  case 'recover':
    on('recover', async () => {
      const account = document.querySelector<HTMLInputElement>('#account')?.value ?? '';
      const code = document.querySelector<HTMLInputElement>('#code')?.value ?? '';
      await post('/account/recovery', { account, code });
      location.assign('/account/');
    });
    break;
  case 'account':
    on('add-passkey', () => register());
    on('sign-out', async () => {
      await post('/account/sign-out');
      location.assign('/account/sign-in');
    });
    for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-passkey]')) {
      button.addEventListener('click', () => {
        post('/account/passkeys/remove', { id: button.dataset.passkey })
          .then(() => location.reload())
          .catch((error: unknown) => say(error instanceof Error ? error.message : String(error)));
      });
    }
    break;
}
