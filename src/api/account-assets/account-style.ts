/** The homeowner pages' style sheet, served as /account/assets/account.css (the CSP allows no inline style). */
export const ACCOUNT_CSS = `body { font-family: system-ui, sans-serif; margin: 0; background: #f6f5f2; color: #1d1d1b; }
main { max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }
button { font: inherit; padding: 0.5rem 1rem; border-radius: 0.4rem; border: 1px solid #555; background: #fff; cursor: pointer; }
button.primary { background: #1d4e89; color: #fff; border-color: #1d4e89; }
input { font: inherit; padding: 0.4rem; width: 100%; box-sizing: border-box; margin: 0.2rem 0 0.8rem; }
ul { padding-left: 1.2rem; }
#recovery-codes { font-family: ui-monospace, monospace; font-size: 1.1rem; }
#status { min-height: 1.5rem; color: #8a1c1c; }
.hidden { display: none; }
`;
