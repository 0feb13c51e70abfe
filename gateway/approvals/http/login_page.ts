/**
 * The login page, with or without an error line. The error is one of the
 * console's own messages, escaped anyway; nothing from the request is put
 * into the page.
 *
 * @module
 */
import type { ConsoleAsset } from "./console_assets.ts";

const SLOT = "<!--login-error-->";

/** The login page's HTML, with `error` in `[data-testid=login-error]` when given. */
export function loginPage(template: ConsoleAsset, error?: string): string {
  if (!template.body.includes(SLOT)) {
    throw new TypeError(
      `login.html has no ${SLOT} slot; restore it from the repository`,
    );
  }
  return template.body.replace(
    SLOT,
    error === undefined
      ? ""
      : `<p class="error" data-testid="login-error" role="alert">${
        escapeHtml(error)
      }</p>`,
  );
}

/** Escapes the five HTML metacharacters. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
