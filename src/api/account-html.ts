/**
 * A tiny HTML template for the homeowner pages: every interpolated value is escaped unless it is
 * markup this helper made itself, so an account id or a home's name can never become markup. The
 * pages carry no inline script or style (the CSP forbids both); the page script and the
 * WebAuthn bundle are files under /account/assets/.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Markup made by `html`, passed through unescaped when interpolated into another template. */
export class Markup {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

type Interpolated = string | number | Markup | readonly Markup[] | null | undefined;

function render(value: Interpolated): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return (value as readonly Markup[]).map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolated[]): Markup {
  return new Markup(strings.reduce((out, chunk, i) => out + chunk + (i < values.length ? render(values[i]) : ''), ''));
}

/** A whole page: its name for the page script, the CSRF token its requests carry, and its body. */
export function page(name: string, title: string, csrf: string, body: Markup): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <meta name="hearth-csrf" content="${csrf}" />
        <title>${title} · Hearth</title>
        <link rel="stylesheet" href="/account/assets/account.css" />
        <script src="/account/assets/simplewebauthn-browser.umd.min.js"></script>
        <script type="module" src="/account/assets/account-page.js"></script>
      </head>
      <body data-page="${name}">
        <main>
          <h1>${title}</h1>
          ${body}
          <p id="status" role="status" aria-live="polite"></p>
        </main>
      </body>
    </html> `.text;
}
