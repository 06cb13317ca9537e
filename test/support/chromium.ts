/**
 * Debian's chromium, headless, through playwright-core: no browser is downloaded. The flags keep
 * an offline machine's chromium from waiting on the network.
 */
import type { Browser } from 'playwright-core';
import { CHROMIUM } from './environment.js';

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
