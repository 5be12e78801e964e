// The settings table is the one place a setting is defined: --help and the configuration reference
// must list exactly its settings, with its flags and defaults.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { helpText } from '../../../src/config/parse.js';
import { SETTING_KEYS, SETTINGS } from '../../../src/config/settings.js';

const reference = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

/** The rows of docs/configuration.md's settings table: env -> { flag, default as written }. */
function documentedSettings(): Map<string, { flag: string; fallback: string }> {
  const rows = new Map<string, { flag: string; fallback: string }>();
  for (const match of reference.matchAll(/^\| `([A-Z_]+)` \| `(--[a-z-]+)` \| ([^|]+) \|/gm)) {
    rows.set(match[1] as string, { flag: match[2] as string, fallback: (match[3] as string).trim() });
  }
  return rows;
}

describe('the settings table', () => {
  it('docs/configuration.md lists every setting and no other, with its flag and default', () => {
    const documented = documentedSettings();
    expect([...documented.keys()].sort()).toEqual(SETTING_KEYS.map((key) => SETTINGS[key].env).sort());
    for (const key of SETTING_KEYS) {
      const { env, flag, fallback } = SETTINGS[key];
      const row = documented.get(env);
      expect(row?.flag, env).toBe(flag);
      // Written `7000`, `0` (no limit), or "empty" for an empty default.
      expect(row?.fallback, env).toMatch(fallback === '' ? /^empty\b/ : new RegExp(`^\`${fallback.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\`(\\s|$)`));
    }
  });

  it('--help lists every setting with its flag, variable and default', () => {
    const help = helpText();
    for (const key of SETTING_KEYS) {
      const { env, flag, fallback } = SETTINGS[key];
      const line = help.split('\n').find((row) => row.trimStart().startsWith(`${flag} <value>`));
      expect(line, flag).toBeDefined();
      expect(line).toContain(env);
      expect(line).toContain(fallback || '(empty)');
    }
  });
});
